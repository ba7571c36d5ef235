import 'reflect-metadata';
import { runProcess } from './app/bootstrap';

// Worker entry: APP_ROLE=fast | external | bulk | beat.
void runProcess('worker');

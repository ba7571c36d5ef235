import 'reflect-metadata';
import { runProcess } from './app/bootstrap';

// Worker entry: APP_ROLE=fast | external | bulk | beat | workers (all four in one process).
void runProcess('worker');

import 'reflect-metadata';
import { runProcess } from './app/bootstrap';
import { startAllRole } from './app/threads';

// API entry (APP_ROLE=api, or all for one process on a developer's machine). Worker roles
// started here are served too, so one command works for every role; `all` runs its workers in a
// worker thread beside the API when ALL_ROLE_THREADS allows (src/app/threads.ts).
void runProcess('main', startAllRole);

import 'reflect-metadata';
import { runProcess } from './app/bootstrap';

// API entry (APP_ROLE=api, or all for one process on a developer's machine). Worker roles
// started here are served too, so one command works for every role.
void runProcess('main');

export const CONSUMED_QUEUES = Symbol('CONSUMED_QUEUES');

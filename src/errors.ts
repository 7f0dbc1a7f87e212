/**
 * A server patternd needs (the external MQTT broker, Redis) could not be reached at start within the time it
 * waits. The message says which, where and why (the last error): the command line prints it without a stack
 * trace and exits 1, so a supervisor restarts patternd and the log shows what to fix.
 */
export class UnreachableError extends Error {}

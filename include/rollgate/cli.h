/* The command line: exit codes and the entry point main() hands argv to. */
#ifndef ROLLGATE_CLI_H
#define ROLLGATE_CLI_H

/* Exit codes, documented in docs/exit-codes.md. Only the cli module chooses them. */
enum rg_exit {
    RG_EXIT_OK = 0,          /* success */
    RG_EXIT_RECOVERED = 1,   /* the deploy failed, the service was restored by a rung */
    RG_EXIT_UNRECOVERED = 2, /* the deploy failed and no rung brought the service back */
    RG_EXIT_ABORTED = 3,     /* failed before anything changed on the target */
    RG_EXIT_BUSY = 4,        /* another deploy holds the target's lock */
    RG_EXIT_GATES = 5,       /* `check`: at least one gate did not pass */
    RG_EXIT_STILL_RUNNING = 6, /* the run goes on without the caller: `wait --timeout` or
                                  --wait-timeout passed, or a signal handed it to a worker */
    RG_EXIT_DIAGNOSED = 7,   /* `diagnose`: at least one cause was found */
    RG_EXIT_USAGE = 64,      /* unknown command or option, wrong arguments */
    RG_EXIT_INVALID = 65,    /* invalid playbook, tag or other input */
    RG_EXIT_INTERNAL = 70,   /* a bug or an environment failure rollgate cannot classify */
    RG_EXIT_CANTCREAT = 73,  /* a directory or file rollgate needs cannot be created */
    RG_EXIT_NOPERM = 77,     /* permission denied on a path rollgate needs */
};

/* Runs the command named in argv and returns the process exit code. */
int rg_cli_main(int argc, char **argv);

#endif

/* Private to cli: the self-pipe for SIGINT, SIGTERM and SIGHUP (SIGPIPE is ignored). */
#ifndef ROLLGATE_CLI_SIGNALS_H
#define ROLLGATE_CLI_SIGNALS_H

/* Installs the handlers once; returns the read end (readable after a signal), or -1. */
int rg_signals_install(void);

#endif

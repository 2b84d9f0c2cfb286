/* Private to cli: the self-pipe for SIGINT and SIGTERM. */
#ifndef ROLLGATE_CLI_SIGNALS_H
#define ROLLGATE_CLI_SIGNALS_H

/* Installs the handlers once; returns the read end (readable after a signal), or -1. */
int rg_signals_install(void);

#endif

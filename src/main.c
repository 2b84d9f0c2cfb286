/* rollgate: argv goes to the command table; nothing else happens here. */
#include "rollgate/cli.h"

int
main(int argc, char **argv)
{
    return rg_cli_main(argc, argv);
}

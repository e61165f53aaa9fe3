/*
 * cmd_tokenize.c — `tempscale tokenize`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'tokenize' is not implemented yet");
}

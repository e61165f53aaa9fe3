/*
 * cmd_generate.c — `tempscale generate`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_generate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'generate' is not implemented yet");
}

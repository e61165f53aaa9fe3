/*
 * cmd_sample.c — `tempscale sample`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_sample(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'sample' is not implemented yet");
}

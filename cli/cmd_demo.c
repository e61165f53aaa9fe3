/*
 * cmd_demo.c — `tempscale demo`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'demo' is not implemented yet");
}

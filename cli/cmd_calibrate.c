/*
 * cmd_calibrate.c — `tempscale calibrate`. Not written yet: its issue owns this file.
 */
#include "cli.h"

int ts_cmd_calibrate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ts_cli_error("'calibrate' is not implemented yet");
}

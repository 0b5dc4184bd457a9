/*
 * capture_cmd.h - `slowtap capture`: starts, stops or shows the capture of a running slowtap
 * through its HTTP API (POST/GET /api/capture), or prints a capture file as JSON lines
 * (--dump), one per record, for people and tests.
 *
 * Exit status: 0 done (a dump that ends inside a block, as a capture cut short does, is read to
 * its last whole block and still 0); 1 the server refused or answered an error, or a block is
 * corrupt (its checksum does not match: the dump stops there); 2 usage, unreachable server,
 * a file that is not a capture.
 */
#ifndef SLOWTAP_CAPTURE_CMD_H
#define SLOWTAP_CAPTURE_CMD_H

#include <stdio.h>

int capture_cmd_main(int argc, char **argv, FILE *out, FILE *err);

#endif

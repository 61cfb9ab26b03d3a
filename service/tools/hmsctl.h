/* hmsctl.h -- hmsctl's commands shared between its files (hmsctl.c: send,
 * show, token; hmsctl_ops.c: dlq, lag, health). Each returns the exit
 * status: 0 done, 1 failed, 2 usage or configuration. */
#ifndef HMSCTL_H
#define HMSCTL_H

#include "conf.h"

int hmsctl_usage(void);
int hmsctl_dlq(const struct conf *cf, int argc, char **argv);
int hmsctl_lag(const struct conf *cf);
int hmsctl_health(const struct conf *cf, int argc, char **argv);

#endif

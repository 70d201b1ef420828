/* methods.h: the control API's method table (docs/control-api.md). */
#ifndef P2P_METHODS_H
#define P2P_METHODS_H

#include <jansson.h>

struct ctl_client;

/* ctl_request_fn for the session's control server; ctx is the session. */
void methods_handle(void *ctx, struct ctl_client *c, json_t *id, const char *method,
    json_t *params);

#endif

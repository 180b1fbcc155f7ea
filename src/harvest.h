/*
 * smimepub harvest: what the file front end (cmd_harvest.c) and the mailbox one
 * (harvest_imap.c) share: the run, and how an item of the engine's is rendered.
 */
#ifndef SMIMEPUB_CLI_HARVEST_H
#define SMIMEPUB_CLI_HARVEST_H

#include "cli.h"
#include "publish.h"

struct harvest {
	struct cli_run run;
	int offline;              /* dry run without a directory: no matching */
};

/* smp_item_fn: renders one of harvest's items (ctx: the struct harvest). */
int cli_harvest_item(const smp_item *it, void *ctx);

/* Whether a dry run may go without a directory: no -H and no URI configured for libldap. */
int cli_harvest_offline(const struct cli_opts *o);

/* The harvest options the command line gives, items to cli_harvest_item with h. */
void cli_harvest_options(smp_harvest_options *ho, struct harvest *h);

/* Whether arg names an IMAP mailbox (imap:// or imaps://) rather than a file. */
int cli_is_imap_url(const char *arg);

/* harvest imap[s]://USER@HOST/MAILBOX (SPEC §9): once, or with --watch as a service. */
int cli_harvest_imap(struct cli_opts *o, const char *url);

#endif

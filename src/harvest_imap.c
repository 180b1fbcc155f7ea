/*
 * smimepub harvest imap[s]://USER@HOST/MAILBOX (SPEC §9): the mailbox harvester.
 *
 * Each new message (without $SmimeHarvested, smimepub/imap.h) is probed for its size, fetched
 * alone and handed to the engine (smp_harvest_data), which publishes through the same path as
 * a file; its outcome files it: done or failed gets the keyword, then --done-folder or
 * --failed-folder; unsettled (the directory away, the run stopped) leaves it new. The
 * directory is opened when there is a message to judge, so a --watch service with nothing to do
 * holds only its IMAP connection. A lost connection to either server ends the pass; --watch
 * starts the next after a back-off, without it the run ends with 69.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smimepub/imap.h"
#include "smimepub/message.h"
#include "smimepub/secret.h"

#include "advice.h"
#include "cli.h"
#include "harvest.h"
#include "publish.h"
#include "stop.h"

#define LOG_FIELD 160

struct imap_run {
	struct harvest h;         /* output, session */
	struct cli_opts *o;
	smp_trust *trust;
	smp_dir *dir;
	smp_harvest *hv;
	smp_harvest_options ho;
	int dir_open;             /* dir, session and hv are there (dir NULL when offline) */
	smp_imap *imap;
	smp_imap_options io;
	char *password;
	/* the message at hand, for its log line */
	char msgid[LOG_FIELD], from[LOG_FIELD], signer[LOG_FIELD], actions[LOG_FIELD];
	int dir_lost;             /* an item said the directory is unavailable */
	size_t n_done, n_failed, n_left;
};

/* src, cut to a field of a log line: anything but printable ASCII and UTF-8 becomes '?'. */
static void log_field(char *dst, const char *src)
{
	size_t n = 0;

	for (; src != NULL && *src != '\0' && n + 1 < LOG_FIELD; src++) {
		unsigned char ch = (unsigned char)*src;

		dst[n++] = ch <= 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	dst[n] = '\0';
	if (n == 0)
		snprintf(dst, LOG_FIELD, "-");
}

/* Adds action (and its reason) to the message's list, once. */
static void log_action(struct imap_run *r, const smp_item *it)
{
	char one[64];
	size_t have = strlen(r->actions);

	snprintf(one, sizeof(one), "%s%s%s", it->action, it->reason != NULL ? ":" : "",
		 it->reason != NULL ? it->reason : "");
	if (strstr(r->actions, one) != NULL)
		return;
	snprintf(r->actions + have, sizeof(r->actions) - have, "%s%s", have > 0 ? "," : "", one);
}

/* smp_item_fn: renders the item, and keeps what the message's log line says. */
static int imap_item(const smp_item *it, void *ctx)
{
	struct imap_run *r = ctx;
	const smp_certinfo *who = it->signer_cert != NULL ? it->signer_cert : it->cert;

	if (it->mail != NULL && r->msgid[0] == '\0') {
		log_field(r->msgid, it->mail->message_id);
		log_field(r->from, it->mail->from);
	}
	if (who != NULL && who->n_emails > 0 && it->ca_kind == NULL && r->signer[0] == '\0')
		log_field(r->signer, who->emails[0]);
	if (it->ca_kind == NULL)
		log_action(r, it);
	if (it->status == 69)
		r->dir_lost = 1;
	return cli_harvest_item(it, &r->h);
}

/* The directory, the session and the engine's run, when not there yet. 0 or an exit status. */
static int open_directory(struct imap_run *r)
{
	smp_error err = SMP_ERROR_INIT;
	int rc, status;

	if (r->dir_open)
		return 0;
	r->dir_lost = 0;
	if (!r->h.offline && (rc = pub_open_dir(&r->dir, r->o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(rc);
	}
	if ((rc = cli_trust_directory(r->trust, r->dir, r->o, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(rc);
		goto fail;
	}
	if ((status = cli_run_open(&r->h.run, r->dir, r->trust, "harvest")) != 0)
		goto fail;
	cli_harvest_options(&r->ho, &r->h);
	r->ho.on_item = imap_item;
	r->ho.on_progress = NULL;
	r->ho.ctx = r;
	if ((rc = smp_harvest_begin(&r->hv, r->h.run.session, &r->ho, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(rc);
		r->h.run.status = smp_status_worse(r->h.run.status, cli_run_release(&r->h.run));
		goto fail;
	}
	r->dir_open = 1;
	return 0;
fail:
	if (r->dir != NULL)
		smp_dir_close(r->dir);
	r->dir = NULL;
	return status;
}

static void close_directory(struct imap_run *r)
{
	if (!r->dir_open)
		return;
	smp_harvest_end(r->hv);
	r->hv = NULL;
	r->h.run.status = smp_status_worse(r->h.run.status, cli_run_release(&r->h.run));
	if (r->dir != NULL)
		smp_dir_close(r->dir);
	r->dir = NULL;
	r->dir_open = 0;
}

/* Says what became of message uid: one line on stderr, for the journal of a service. */
static void log_message(struct imap_run *r, uint32_t uid, const char *filed)
{
	if (r->o->quiet && strncmp(filed, "done", 4) == 0)
		return;
	fprintf(stderr, "smimepub: harvest: UID %u message-id=%s from=%s signer=%s action=%s -> %s\n",
		uid, r->msgid[0] ? r->msgid : "-", r->from[0] ? r->from : "-",
		r->signer[0] ? r->signer : "-", r->actions[0] ? r->actions : "-", filed);
	fflush(stderr);
}

/*
 * Files message uid by its definite result: the keyword, then the folder. A dry run changes
 * nothing. Returns 0 or an smp error (said).
 */
static int file_message(struct imap_run *r, uint32_t uid, smp_harvest_result result,
			const char **filed)
{
	const char *folder = result == SMP_HARVEST_DONE ? r->o->done_folder : r->o->failed_folder;
	smp_error err = SMP_ERROR_INIT;
	int left = 0, rc;

	*filed = result == SMP_HARVEST_DONE ? "done" : "failed";
	if (r->o->dry_run) {
		*filed = result == SMP_HARVEST_DONE ? "done (dry run: not filed)"
						    : "failed (dry run: not filed)";
		return 0;
	}
	/* a message that stays in the mailbox is told from a new one by the keyword alone: the
	   server must keep it (checked once) */
	if ((rc = smp_imap_mark(r->imap, uid, folder == NULL, &err)) == 0 && folder != NULL)
		rc = smp_imap_move(r->imap, uid, folder, &left, &err);
	if (rc != 0) {
		cli_error_of(&err);
		return rc;
	}
	if (folder != NULL)
		*filed = left ? "copied, left \\Deleted (no UIDPLUS)" : folder;
	return 0;
}

/* The record of a message too large to be fetched. */
static void report_too_large(struct imap_run *r, const char *label, const char *message)
{
	smp_item it;

	memset(&it, 0, sizeof(it));
	it.source = label;
	it.action = "failed";
	it.reason = "too_large";
	it.message = message;
	it.status = 65;
	log_action(r, &it);
	cli_harvest_item(&it, &r->h);
}

/*
 * One message: probe, fetch, harvest, file. Returns 0 (go on with the next), or an smp error
 * that ends the pass (said): the IMAP connection or the directory went away.
 */
static int one_message(struct imap_run *r, uint32_t uid)
{
	smp_error err = SMP_ERROR_INIT;
	smp_harvest_result result = SMP_HARVEST_UNSETTLED;
	unsigned char *data = NULL;
	char *label = NULL;
	const char *filed;
	uint64_t size = 0;
	size_t len = 0, limit = r->o->max_message_size > 0 ? r->o->max_message_size
							    : SMP_IMAP_MAX_SIZE_DEFAULT;
	int seen = 0, rc, status;

	r->msgid[0] = r->from[0] = r->signer[0] = r->actions[0] = '\0';
	if ((rc = smp_imap_probe(r->imap, uid, &size, &seen, &err)) == SMP_ERR_NOTFOUND)
		return 0;  /* another client took it meanwhile */
	if (rc != 0)
		goto said;
	if (asprintf(&label, "%s/;UID=%u", smp_imap_label(r->imap), uid) < 0) {
		label = NULL;
		rc = smp_error_set(&err, SMP_ERR_NOMEM, "out of memory");
		goto said;
	}
	if (size <= limit) {
		if ((status = open_directory(r)) != 0) {
			rc = status == 77 ? SMP_ERR_ACCESS : SMP_ERR_UNAVAILABLE;
			goto out;  /* said; the message stays new */
		}
		rc = smp_imap_fetch(r->imap, uid, &data, &len, &err);
		if (rc == SMP_ERR_NOTFOUND) {
			rc = 0;
			goto out;
		}
	} else {
		rc = smp_error_set(&err, SMP_ERR_BADINPUT, "message UID %u is %llu bytes, over the "
				   "limit of %zu (--max-message-size): not fetched", uid,
				   (unsigned long long)size, limit);
	}
	if (rc == SMP_ERR_BADINPUT) {
		report_too_large(r, label, err.msg);
		result = SMP_HARVEST_FAILED;
	} else if (rc != 0) {
		goto said;
	} else if ((rc = smp_harvest_data(r->hv, data, len, label, &result, &err)) != 0) {
		goto said;
	}
	if (r->o->dry_run && !seen && rc != SMP_ERR_BADINPUT &&
	    (rc = smp_imap_unsee(r->imap, uid, &err)) != 0)
		goto said;  /* fetching set \Seen: a dry run leaves the message as it was */
	rc = 0;
	if (result == SMP_HARVEST_UNSETTLED) {
		log_message(r, uid, "left for the next run");
		r->n_left++;
		if (r->dir_lost) {
			close_directory(r);
			rc = SMP_ERR_UNAVAILABLE;
		}
		goto out;
	}
	if ((rc = file_message(r, uid, result, &filed)) != 0)
		goto out;
	log_message(r, uid, filed);
	if (result == SMP_HARVEST_DONE)
		r->n_done++;
	else
		r->n_failed++;
	goto out;
said:
	cli_error_of(&err);
out:
	free(label);
	free(data);
	return rc;
}

/* Connects when not connected, and makes the folders. 0 or an smp error (said). */
static int open_mailbox(struct imap_run *r)
{
	smp_error err = SMP_ERROR_INIT;
	int rc;

	if (r->imap != NULL)
		return 0;
	if ((rc = smp_imap_open(&r->imap, &r->io, &err)) != 0) {
		cli_error_of(&err);
		return rc;
	}
	if (r->o->verbose)
		fprintf(stderr, "smimepub: connected to '%s'\n", smp_imap_label(r->imap));
	if (r->o->dry_run)
		return 0;
	if ((r->o->done_folder != NULL &&
	     (rc = smp_imap_ensure_folder(r->imap, r->o->done_folder, &err)) != 0) ||
	    (r->o->failed_folder != NULL &&
	     (rc = smp_imap_ensure_folder(r->imap, r->o->failed_folder, &err)) != 0)) {
		cli_error_of(&err);
		smp_imap_close(r->imap);
		r->imap = NULL;
		return rc;
	}
	return 0;
}

/* One pass over the mailbox's new messages. 0, or the smp error that ended it (said). */
static int pass(struct imap_run *r)
{
	smp_error err = SMP_ERROR_INIT;
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc;

	if ((rc = open_mailbox(r)) != 0)
		return rc;
	/* with both folders a message still here is not filed yet, whatever its keyword says
	   (its move failed after the keyword): judged again (a publish made is found made) and
	   filed */
	if ((rc = (r->o->done_folder != NULL && r->o->failed_folder != NULL
		   ? smp_imap_unfiled_messages : smp_imap_new_messages)(r->imap, &uids, &n,
									  &err)) != 0) {
		cli_error_of(&err);
		goto out;
	}
	if (n > 0 && r->o->verbose)
		fprintf(stderr, "smimepub: %zu new message%s in '%s'\n", n, n == 1 ? "" : "s",
			smp_imap_label(r->imap));
	for (size_t i = 0; i < n && cli_stop == 0 && rc == 0; i++)
		rc = one_message(r, uids[i]);
out:
	free(uids);
	if (rc == SMP_ERR_UNAVAILABLE || rc == SMP_ERR_NOMEM || rc == SMP_ERR_LDAP) {
		/* which side went away: a lost IMAP connection is made again in the next pass */
		smp_imap_close(r->imap);
		r->imap = NULL;
	}
	return rc;
}

/* Sleeps seconds, or less when a signal came. */
static void nap(int seconds)
{
	struct timespec ts = { seconds, 0 };

	while (cli_stop == 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Refuses what cannot work before anything is connected. 0 or 64. */
static int check_imap_usage(const struct cli_opts *o, const char *url)
{
	smp_error err = SMP_ERROR_INIT;

	if (smp_imap_check_url(url, &err) != 0) {
		cli_error_of(&err);
		return 64;
	}
	if (o->imap_password_file != NULL && o->imap_token_file != NULL) {
		cli_error("give --imap-password-file or --imap-oauth2-token-file, not both");
		return 64;
	}
	if (o->from_ldif != NULL) {
		cli_error("harvest of a mailbox publishes into a directory: --from-ldif is for files");
		return 64;
	}
	for (int i = 0; i < 2; i++) {
		const char *folder = i == 0 ? o->done_folder : o->failed_folder;

		if (folder != NULL && !smp_imap_folder_ok(folder)) {
			cli_error("invalid --%s-folder '%s': a folder name is UTF-8 of at most %d "
				  "bytes, without control characters, '\"' or '\\'",
				  i == 0 ? "done" : "failed", folder, SMP_IMAP_FOLDER_MAX);
			return 64;
		}
	}
	return pub_check_policy(o, "harvest");
}

int cli_harvest_imap(struct cli_opts *o, const char *url)
{
	struct imap_run r;
	smp_error err = SMP_ERROR_INIT;
	smp_imap_options io = SMP_IMAP_OPTIONS_INIT;
	int rc = 0, status, backoff = 1;

	memset(&r, 0, sizeof(r));
	r.o = o;
	if ((status = check_imap_usage(o, url)) != 0)
		return status;
	if (o->imap_token_file == NULL) {
		if ((rc = cli_secret(&r.password, o->imap_password_file, "SMIMEPUB_IMAP_PASSWORD",
				     o->allow_open_password_file, &err)) != 0) {
			cli_error_of(&err);
			return smp_exit_status(rc);
		}
		if (r.password == NULL) {
			cli_error("the IMAP mailbox needs a password (--imap-password-file FILE or "
				  "SMIMEPUB_IMAP_PASSWORD) or an OAuth2 token "
				  "(--imap-oauth2-token-file FILE)");
			return 64;
		}
	}
	io.url = url;
	io.password = r.password;
	io.token_file = o->imap_token_file;
	io.ca_file = o->imap_ca_file;
	io.insecure = o->conn.insecure;
	io.timeout = o->conn.timeout > 0 ? o->conn.timeout : 30;
	io.max_size = o->max_message_size;
	r.io = io;
	if ((rc = cli_trust(&r.trust, o, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(rc);
		goto out;
	}
	cli_run_start(&r.h.run, o);
	r.h.offline = o->dry_run && cli_harvest_offline(o);
	if (r.h.offline && o->publish_intermediates) {
		cli_error("harvest --publish-intermediates needs a directory (-H): the CA "
			  "containers are read from it, even in a dry run");
		status = 64;
		goto out;
	}
	for (;;) {
		rc = pass(&r);
		if (cli_stop != 0 || o->watch == 0)
			break;
		if (rc == SMP_ERR_USAGE || (rc == SMP_ERR_ACCESS && o->imap_token_file == NULL) ||
		    rc == SMP_ERR_NOTFOUND || rc == SMP_ERR_NOFILE || rc == SMP_ERR_BADINPUT) {
			break;  /* a setting to fix: trying again would not help */
		}
		if (rc == 0) {
			backoff = 1;
			nap(o->watch);
			continue;
		}
		/* away, or a token the refresher has yet to replace: later, then less often */
		fprintf(stderr, "smimepub: trying again in %d s\n", backoff);
		nap(backoff);
		backoff = backoff * 2 > o->watch ? o->watch : backoff * 2;
	}
	if (o->verbose || o->watch)
		fprintf(stderr, "smimepub: harvest of '%s': %zu done, %zu failed, %zu left for the "
			"next run\n", url, r.n_done, r.n_failed, r.n_left);
	close_directory(&r);
	status = r.h.run.status;
	if (rc != 0 && !(o->watch && cli_stop != 0))
		status = smp_status_worse(status, rc == SMP_ERR_LDAP ? 1 : smp_exit_status(rc));
	if (o->watch && cli_stop == SIGTERM) {
		/* a service stopped between messages: a clean end, not an interrupted run */
		cli_stop = 0;
		status = 0;
	}
out:
	smp_imap_close(r.imap);
	smp_secret_free(r.password);
	smp_trust_free(r.trust);
	return status;
}

/*
 * smimepub harvest: take the signer certificates of S/MIME-signed mail and publish them
 * (SPEC §2, §3, §5): the engine's smp_harvest_paths decides (bad_signature never published,
 * from_mismatch only with --allow-from-mismatch); this renders its items.
 *
 * A dry run with no -H and no URI configured for libldap (ldap.conf, .ldaprc, LDAPURI) needs no
 * directory: every certificate that passes the checks is reported `would_publish` without
 * matching (no "dn" field). With a directory, a dry run matches and prints the LDIF.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ldap.h>
#include <openssl/x509.h>

#include "smimepub/message.h"

#include "advice.h"
#include "cli.h"
#include "harvest.h"
#include "inputs.h"
#include "publish.h"
#include "signer.h"
#include "stop.h"

/* Prints a record that carries no certificate (ownership taken) for item. */
static void emit_plain(struct harvest *h, const smp_item *item, json_t *obj)
{
	/* through cli_emit: in a text dry run it stays a comment of the LDIF on stdout */
	cli_emit(&h->run, item, obj);
}

/* A record for an input that could not be read at all. */
static void report_input(struct harvest *h, const smp_item *it)
{
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "file", it->source, "action", it->action,
				"reason", it->reason, "message", it->message);

	cli_error("%s", it->message);
	emit_plain(h, it, obj);
}

/* A record for a message without a certificate to take (or one that cannot be read). */
static void report_message(struct harvest *h, const smp_item *it)
{
	json_t *obj = json_object();

	if (strcmp(it->reason, "malformed") == 0)
		cli_error("cannot read a message in '%s': %s", it->mail->file, it->message);
	if (obj != NULL && strcmp(it->reason, "unreadable") == 0) {
		/* a certificate that could not even be analysed */
		json_object_set_new(obj, "action", json_string(it->action));
		json_object_set_new(obj, "reason", json_string(it->reason));
		json_object_set_new(obj, "message", json_string(it->message));
		cli_message_fields(obj, it->mail);
	} else if (obj != NULL) {
		cli_message_fields(obj, it->mail);
		json_object_set_new(obj, "action", json_string(it->action));
		json_object_set_new(obj, "reason", json_string(it->reason));
		json_object_set_new(obj, "message", json_string(it->message));
	}
	emit_plain(h, it, obj);
}

/* What the engine reports: an input, a message, or a signer's certificate and its outcome. */
int cli_harvest_item(const smp_item *it, void *ctx)
{
	struct harvest *h = ctx;
	json_t *obj;

	if (it->mail == NULL) {
		report_input(h, it);
		return 0;
	}
	if (it->cert == NULL) {
		report_message(h, it);
		return 0;
	}
	if (it->ca_kind != NULL) {
		/* --publish-intermediates: a CA the message carries, as ca publish reports it */
		if ((obj = cli_item_json(it)) != NULL) {
			cli_ca_fields(obj, it);
			cli_message_fields(obj, it->mail);
		}
		cli_emit(&h->run, it, obj);
		return 0;
	}
	if ((obj = cli_item_json(it)) != NULL) {
		if (h->offline)
			json_object_del(obj, "dn");
		if (h->offline && strcmp(it->action, "would_publish") == 0) {
			char *m = NULL;

			if (asprintf(&m, "%s; give -H to see the entry and the LDIF", it->message) >= 0)
				json_object_set_new(obj, "message", json_string(m));
			free(m);
		}
		cli_message_fields(obj, it->mail);
		cli_signer_fields(obj, it->mail, it->signer, it->preference, it->signer_cert);
	}
	cli_emit(&h->run, it, obj);
	return 0;
}

int cli_is_imap_url(const char *arg)
{
	return strncasecmp(arg, "imap://", 7) == 0 || strncasecmp(arg, "imaps://", 8) == 0;
}

void cli_harvest_options(smp_harvest_options *ho, struct harvest *h)
{
	smp_harvest_options init = SMP_HARVEST_OPTIONS_INIT;
	const struct cli_opts *o = h->run.o;

	*ho = init;
	cli_publish_options(&ho->publish, &h->run);
	ho->allow_from_mismatch = o->allow_from_mismatch;
	ho->publish_intermediates = o->publish_intermediates;
	ho->ca_base = o->ca_base;
	ho->on_item = cli_harvest_item;
	ho->on_progress = cli_item_progress;
	ho->ctx = h;
}

int cli_harvest_offline(const struct cli_opts *o)
{
	char *uri = NULL;
	LDAPURLDesc *lud = NULL;
	int none;

	if (o->conn.uri != NULL)
		return 0;
	if (ldap_get_option(NULL, LDAP_OPT_URI, &uri) != LDAP_OPT_SUCCESS || uri == NULL)
		return 1;
	/* libldap's built-in fallback when nothing is configured is ldap://localhost */
	none = ldap_url_parse(uri, &lud) == LDAP_URL_SUCCESS && lud->lud_next == NULL &&
	       strcasecmp(lud->lud_scheme, "ldap") == 0 &&
	       (lud->lud_host == NULL || *lud->lud_host == '\0' ||
		strcasecmp(lud->lud_host, "localhost") == 0) &&
	       (lud->lud_port == 0 || lud->lud_port == LDAP_PORT) &&
	       (lud->lud_dn == NULL || *lud->lud_dn == '\0');
	if (lud != NULL)
		ldap_free_urldesc(lud);
	ldap_memfree(uri);
	return none;
}

/* Refuses option combinations that make no sense for harvest. Returns 0 or 64. */
static int check_usage(const struct cli_opts *o)
{
	const struct {
		const char *name;
		int given;
	} imap_only[] = { { "--imap-password-file", o->imap_password_file != NULL },
			  { "--imap-oauth2-token-file", o->imap_token_file != NULL },
			  { "--imap-ca-file", o->imap_ca_file != NULL },
			  { "--done-folder", o->done_folder != NULL },
			  { "--failed-folder", o->failed_folder != NULL },
			  { "--watch", o->watch > 0 },
			  { "--max-message-size", o->max_message_size > 0 } };

	if (o->nargs == 0 && o->files_from == NULL) {
		cli_error("harvest needs at least one MESSAGE (.eml, .p7s, .p7m, mbox, Maildir; "
			  "'-' reads standard input) or an IMAP mailbox (imaps://USER@HOST/MAILBOX)");
		return 64;
	}
	for (size_t i = 0; i < sizeof(imap_only) / sizeof(*imap_only); i++)
		if (imap_only[i].given) {
			cli_error("harvest %s is for an IMAP mailbox (imaps://USER@HOST/MAILBOX), "
				  "not for files", imap_only[i].name);
			return 64;
		}
	if (o->publish_intermediates && o->from_ldif != NULL) {
		cli_error("harvest --publish-intermediates: the CA containers are read from a "
			  "server, not from an LDIF export");
		return 64;
	}
	return pub_check_policy(o, "harvest");
}

int cmd_harvest(struct cli_opts *o)
{
	struct harvest h;
	struct cli_inputs in;
	smp_trust *trust = NULL;
	smp_dir *dir = NULL;
	smp_error err = SMP_ERROR_INIT;
	char *present = NULL;
	size_t n_present = 0;
	int r, status;

	memset(&in, 0, sizeof(in));
	memset(&h, 0, sizeof(h));
	for (int i = 0; i < o->nargs; i++) {
		if (!cli_is_imap_url(o->args[i]))
			continue;
		if (o->nargs > 1 || o->files_from != NULL) {
			cli_error("harvest takes one IMAP mailbox alone, without files: run it once "
				  "per mailbox");
			return 64;
		}
		return cli_harvest_imap(o, o->args[i]);
	}
	if ((status = check_usage(o)) != 0)
		return status;
	if ((r = cli_trust(&trust, o, &err)) != 0) {
		cli_error_of(&err);
		return smp_exit_status(r);
	}
	if ((r = cli_inputs_collect(&in, o, 1, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(r);
		goto out;
	}
	cli_run_start(&h.run, o);
	if (in.n == 0) {
		/* an empty spool directory is nothing to do, not an error (cron) */
		cli_warn(o, "no message files found: nothing to harvest");
		status = 0;
		goto out;
	}
	if ((present = calloc(in.n + 1, 1)) == NULL) {
		cli_error("out of memory");
		status = 1;
		goto out;
	}
	/* missing inputs are reported first: with none left there is no need to connect */
	for (size_t i = 0; i < in.n; i++) {
		struct stat st;

		if (strcmp(in.paths[i], "-") == 0 || stat(in.paths[i], &st) == 0) {
			present[i] = 1;
			n_present++;
			continue;
		}
		{
			smp_item it;
			char *msg = NULL;

			if (asprintf(&msg, "cannot read '%s': no such file or directory",
				     in.paths[i]) < 0) {
				msg = NULL;
				cli_stop_no_memory();  /* the record would not be whole */
			}
			memset(&it, 0, sizeof(it));
			it.source = in.paths[i];
			it.action = "failed";
			it.reason = "file_not_found";
			it.message = msg != NULL ? msg : "no such file or directory";
			it.status = 66;
			report_input(&h, &it);
			free(msg);
		}
	}
	if (n_present == 0) {
		status = h.run.status != 0 ? h.run.status : 66;
		goto out;
	}
	h.offline = o->dry_run && o->from_ldif == NULL && cli_harvest_offline(o);
	if (h.offline && o->publish_intermediates) {
		cli_error("harvest --publish-intermediates needs a directory (-H): the CA "
			  "containers are read from it, even in a dry run");
		status = 64;
		goto out;
	}
	if (!h.offline) {
		if ((r = pub_open_dir(&dir, o, &err)) != 0) {
			cli_error_of(&err);
			status = smp_exit_status(r);
			goto out;
		}
	}
	/* before any message is judged; offline, there is no directory to take trust from */
	if ((r = cli_trust_directory(trust, dir, o, &err)) != 0) {
		cli_error_of(&err);
		status = smp_exit_status(r);
		goto out;
	}
	if ((status = cli_run_open(&h.run, dir, trust, "harvest")) != 0)
		goto out;

	{
		smp_harvest_options ho;
		const char **paths = calloc(n_present + 1, sizeof(*paths));
		size_t k = 0;

		if (paths == NULL) {
			cli_error("out of memory");
			smp_session_note_status(h.run.session, 1);
		} else {
			for (size_t i = 0; i < in.n; i++)
				if (present[i])
					paths[k++] = in.paths[i];
			cli_harvest_options(&ho, &h);
			cli_progress_start(&h.run.progress, o, "harvest");
			if ((r = smp_harvest_paths(h.run.session, &ho, paths, k, &err)) != 0) {
				cli_error_of(&err);
				smp_session_note_status(h.run.session, r == SMP_ERR_NOMEM ? 1 :
							smp_exit_status(r));
			}
			cli_progress_end(&h.run.progress);
			free(paths);
		}
	}
	status = cli_run_release(&h.run);
out:
	smp_session_free(h.run.session);
	free(present);
	cli_inputs_release(&in);
	if (dir != NULL)
		smp_dir_close(dir);
	smp_trust_free(trust);
	return status;
}

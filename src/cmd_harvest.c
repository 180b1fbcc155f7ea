/*
 * smimepub harvest: take the signer certificates of S/MIME-signed mail and publish them
 * (SPEC §2, §3, §5) through the shared publish pipeline.
 *
 * Per signature: a signature that does not verify is `bad_signature` and never published
 * (not even with --force); the signer's address must be the message's From (`from_mismatch`,
 * refused unless --allow-from-mismatch, which keeps it as a warning; a bare .p7s / .p7m has no
 * From and is judged like a certificate file); the certificates the
 * message carries are the intermediates; an SMIMEEncryptionKeyPreference naming another
 * carried certificate makes that one the certificate to publish.
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
#include "inputs.h"
#include "publish.h"
#include "signer.h"

struct harvest {
	struct cli_run run;
	int offline;              /* dry run without a directory: no matching */
	/* the signer being published, for harvest_item */
	const smp_message *m;
	const smp_signer *s;
	int preference;           /* the certificate is the one SMIMEEncryptionKeyPreference names */
	const smp_certinfo *signer_ci;
	const smp_trust *trust;
};

/* Prints a record that carries no certificate (ownership taken), noting status. */
static void emit_plain(struct harvest *h, json_t *obj, int status)
{
	smp_item it;

	/* through cli_emit: in a text dry run it stays a comment of the LDIF on stdout */
	memset(&it, 0, sizeof(it));
	it.status = status;
	cli_emit(&h->run, &it, obj);
}

/* A record for a message without a certificate to take (or one that cannot be read). */
static void report_message(struct harvest *h, const smp_message *m, const char *action,
			   const char *reason, int status, const char *message)
{
	json_t *obj = json_object();

	if (obj != NULL) {
		cli_message_fields(obj, m);
		json_object_set_new(obj, "action", json_string(action));
		json_object_set_new(obj, "reason", json_string(reason));
		json_object_set_new(obj, "message", json_string(message));
	}
	emit_plain(h, obj, status);
}

/* A record for an input that could not be read at all. */
static void report_input(struct harvest *h, const char *path, const smp_error *err)
{
	int status = smp_exit_status(err->code);
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "file", path, "action", "failed",
				"reason", status == 66 ? "file_not_found" : "unreadable",
				"message", err->msg);

	cli_error_of(err);
	emit_plain(h, obj, status);
}

/* The engine's item for a signer's certificate, with the message's and the signer's fields. */
static int harvest_item(const smp_item *item, void *ctx)
{
	struct harvest *h = ctx;
	json_t *obj = cli_item_json(item);

	if (obj != NULL) {
		if (h->offline)
			json_object_del(obj, "dn");
		cli_message_fields(obj, h->m);
		cli_signer_fields(obj, h->m, h->s, h->preference, h->signer_ci);
	}
	cli_emit(&h->run, item, obj);
	return 0;
}

/* An item decided here (not by the engine): refused before matching, or the offline verdict. */
static void harvest_verdict(struct harvest *h, const smp_certinfo *ci, const char *action,
			    const char *reason, int status, const char *message)
{
	smp_item it;

	memset(&it, 0, sizeof(it));
	it.source = h->m->file;
	it.action = action;
	it.reason = reason;
	it.message = message;
	it.status = status;
	it.cert = ci;
	harvest_item(&it, h);
}

/*
 * Analyses, checks and publishes one signer's certificate (or the one its
 * SMIMEEncryptionKeyPreference names) and prints its record. Returns 0 or SMP_ERR_NOMEM.
 */
static int harvest_signer(struct harvest *h, const smp_message *m, const smp_signer *s)
{
	X509 *cert = s->encryption_cert != NULL ? s->encryption_cert : s->cert;
	smp_certinfo *ci = NULL, *signer_ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	unsigned char *der = NULL;
	int len, mismatch, r;

	if ((r = smp_cert_analyze(&ci, cert, m->carried, h->trust, &err)) != 0)
		goto out;
	mismatch = smp_signer_problems(ci, cert, m, s, h->trust,
				       h->run.o->allow_from_mismatch, &signer_ci, &err);
	if (mismatch < 0) {
		r = mismatch;
		goto out;
	}
	h->m = m;
	h->s = s;
	h->preference = cert != s->cert;
	h->signer_ci = signer_ci;

	if (!s->signature_ok) {
		harvest_verdict(h, ci, "skipped", "bad_signature", 1,
				s->error != NULL ? s->error : "the signature does not verify");
	} else if (mismatch && !h->run.o->allow_from_mismatch) {
		harvest_verdict(h, ci, "skipped", "from_mismatch", 1,
				"the certificate's addresses do not include the message's From: not "
				"published (--allow-from-mismatch publishes it)");
	} else if (h->offline) {
		if (smp_certinfo_worst(ci) == SMP_SEV_CRITICAL && !h->run.o->policy.force)
			harvest_verdict(h, ci, "skipped", "critical_problem", 1,
					"would not be published because of the critical problems "
					"below: fix them, or use --force");
		else
			harvest_verdict(h, ci, "would_publish", NULL, 0,
					"no directory given (-H): not matched to an entry; give -H "
					"to see the entry and the LDIF");
	} else {
		smp_publish_options po;

		len = i2d_X509(cert, &der);
		if (len <= 0) {
			r = smp_error_openssl(&err, SMP_ERR_INTERNAL, "cannot encode a certificate");
			goto out;
		}
		cli_publish_options(&po, &h->run);
		po.on_item = harvest_item;
		po.on_progress = NULL;
		po.ctx = h;
		if ((r = smp_publish_certificate(h->run.session, &po, der, (size_t)len, ci, m->file,
						 &err)) != 0)
			goto out;
	}
	r = 0;
out:
	if (r != 0 && r != SMP_ERR_NOMEM) {
		/* the certificate could not even be analysed: report it, go on */
		json_t *fail = json_pack("{s:s, s:s, s:s}", "action", "failed", "reason", "unreadable",
					 "message", err.msg);
		if (fail != NULL)
			cli_message_fields(fail, m);
		emit_plain(h, fail, 65);
		r = 0;
	}
	h->signer_ci = NULL;
	OPENSSL_free(der);
	smp_certinfo_free(signer_ci);
	smp_certinfo_free(ci);
	return r;
}

static int harvest_message(const smp_message *m, void *arg)
{
	struct harvest *h = arg;

	switch (m->kind) {
	case SMP_MSG_MALFORMED:
		cli_error("cannot read a message in '%s': %s", m->file,
			  m->problem != NULL ? m->problem : "malformed");
		report_message(h, m, "failed", "malformed", 65,
			       m->problem != NULL ? m->problem : "malformed message");
		return 0;
	case SMP_MSG_ENCRYPTED:
		report_message(h, m, "skipped", "encrypted", 0, cli_message_advice(m->kind));
		return 0;
	case SMP_MSG_UNSIGNED:
		report_message(h, m, "skipped", "unsigned", 0, cli_message_advice(m->kind));
		return 0;
	case SMP_MSG_SIGNED:
		break;
	}
	if (m->n_signers == 0) {
		report_message(h, m, "skipped", "unsigned", 0, "no signer in the signature");
		return 0;
	}
	for (size_t i = 0; i < m->n_signers; i++) {
		const smp_signer *s = &m->signers[i];

		if (s->cert == NULL) {
			report_message(h, m, "failed", "no_signer_certificate", 1,
				       "the message does not carry the signer's certificate: ask "
				       "the sender to include it");
			continue;
		}
		if (harvest_signer(h, m, s) != 0) {
			cli_error("cannot harvest '%s': out of memory", m->file);
			h->run.status = smp_status_worse(h->run.status, 1);
			return SMP_ERR_NOMEM;
		}
	}
	return 0;
}

static void harvest_path(struct harvest *h, const char *path)
{
	smp_error err = SMP_ERROR_INIT;
	int r;

	r = smp_messages_read(path, harvest_message, h, &err);
	if (r == SMP_ERR_NOFILE || r == SMP_ERR_BADINPUT)
		report_input(h, path, &err);
	else if (r != 0)
		h->run.status = smp_status_worse(h->run.status, smp_exit_status(r));
}

/* Whether a dry run may go without a directory: no -H and no URI configured for libldap. */
static int no_directory_named(const struct cli_opts *o)
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
	if (o->nargs == 0 && o->files_from == NULL) {
		cli_error("harvest needs at least one MESSAGE (.eml, .p7s, .p7m, mbox, Maildir; "
			  "'-' reads standard input)");
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
	h.trust = trust;
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
		smp_error_set(&err, SMP_ERR_NOFILE, "cannot read '%s': no such file or directory",
			      in.paths[i]);
		report_input(&h, in.paths[i], &err);
	}
	if (n_present == 0) {
		status = h.run.status != 0 ? h.run.status : 66;
		goto out;
	}
	h.offline = o->dry_run && o->from_ldif == NULL && no_directory_named(o);
	if (!h.offline) {
		if ((r = pub_open_dir(&dir, o, &err)) != 0) {
			cli_error_of(&err);
			status = smp_exit_status(r);
			goto out;
		}
	}
	if ((status = cli_run_open(&h.run, dir, trust, "harvest")) != 0)
		goto out;

	cli_progress_start(&h.run.progress, o, "harvest");
	for (size_t i = 0; i < in.n; i++) {
		if (present[i])
			harvest_path(&h, in.paths[i]);
		cli_progress_update(&h.run.progress, i + 1, in.n);
	}
	cli_progress_end(&h.run.progress);
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

/*
 * smimepub engine: harvest, taking the signer certificates of S/MIME-signed mail and
 * publishing them (SPEC §2, §3) through the same path as publish.
 *
 * Per signature: a signature that does not verify is `bad_signature` and never published
 * (whatever the policy); the signer's address must be the message's From (`from_mismatch`,
 * refused unless the options allow it, which keeps it as a warning; a bare .p7s / .p7m has no
 * From and is judged like a certificate file); the certificates the message carries are the
 * intermediates; an SMIMEEncryptionKeyPreference naming another carried certificate makes that
 * one the certificate to publish. A session without a directory (a dry run that names none)
 * judges each certificate alone: would_publish, or skipped for a critical problem.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "exec.h"
#include "smimepub/message.h"

struct harvest_run {
	smp_session *c;
	const smp_harvest_options *o;
	int nomem;
};

/* Reports an item about message m that carries no certificate of its own (s may be NULL). */
static void message_item(struct harvest_run *h, const smp_message *m, const smp_signer *s,
			 const char *action, const char *reason, int status, const char *message)
{
	smp_item it;

	memset(&it, 0, sizeof(it));
	it.source = m->file;
	it.action = action;
	it.reason = reason;
	it.message = message;
	it.status = status;
	it.mail = m;
	it.signer = s;
	pub_emit_item(h->c, &it, h->o->on_item, h->o->ctx, NULL);
}

/* Reports the outcome res for certificate ci of signer s in m. */
static void signer_item(struct harvest_run *h, const smp_message *m, const smp_signer *s,
			int preference, const smp_certinfo *signer_ci, const struct pub_result *res,
			const smp_certinfo *ci)
{
	smp_item it;

	pub_item_fill(&it, res, ci, m->file);
	it.mail = m;
	it.signer = s;
	it.preference = preference;
	it.signer_cert = signer_ci;
	pub_emit_item(h->c, &it, h->o->on_item, h->o->ctx, NULL);
}

/* A verdict decided here, before (or instead of) matching. Returns 0 or SMP_ERR_NOMEM. */
static int verdict(struct pub_result *res, const char *action, const char *reason, int status,
		   const char *message)
{
	res->action = action;
	res->reason = reason;
	res->status = status;
	return (res->message = strdup(message)) != NULL ? 0 : SMP_ERR_NOMEM;
}

/*
 * Analyses, checks and publishes one signer's certificate (or the one its
 * SMIMEEncryptionKeyPreference names). Returns 0 or SMP_ERR_NOMEM.
 */
static int harvest_signer(struct harvest_run *h, const smp_message *m, const smp_signer *s)
{
	X509 *cert = s->encryption_cert != NULL ? s->encryption_cert : s->cert;
	smp_certinfo *ci = NULL, *signer_ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	struct pub_result res;
	unsigned char *der = NULL;
	int len, mismatch, r;

	memset(&res, 0, sizeof(res));
	if ((r = smp_cert_analyze(&ci, cert, m->carried, h->c->trust, &err)) != 0)
		goto out;
	mismatch = smp_signer_problems(ci, cert, m, s, h->c->trust, h->o->allow_from_mismatch,
				       &signer_ci, &err);
	if (mismatch < 0) {
		r = mismatch;
		goto out;
	}
	if (!s->signature_ok) {
		r = verdict(&res, "skipped", "bad_signature", 1,
			    s->error != NULL ? s->error : "the signature does not verify");
	} else if (mismatch && !h->o->allow_from_mismatch) {
		r = verdict(&res, "skipped", "from_mismatch", 1, "the certificate's addresses do "
			    "not include the message's From: not published");
	} else if (h->c->dir == NULL) {
		if (smp_certinfo_worst(ci) == SMP_SEV_CRITICAL && !h->o->publish.policy.force)
			r = verdict(&res, "skipped", "critical_problem", 1, "would not be published "
				    "because of the critical problems below");
		else
			r = verdict(&res, "would_publish", NULL, 0, "no directory given: not "
				    "matched to an entry");
	} else {
		if ((len = i2d_X509(cert, &der)) <= 0) {
			r = smp_error_openssl(&err, SMP_ERR_INTERNAL, "cannot encode a certificate");
			goto out;
		}
		h->c->pub = &h->o->publish;
		r = pub_certificate(h->c, der, (size_t)len, ci, m->file, &res);
		h->c->pub = NULL;
		if (r != 0)
			goto out;
	}
	if (r != 0)
		goto out;
	signer_item(h, m, s, cert != s->cert, signer_ci, &res, ci);
	r = 0;
out:
	if (r != 0 && r != SMP_ERR_NOMEM)
		/* the certificate could not even be analysed: report it, go on */
		message_item(h, m, NULL, "failed", "unreadable", 65, err.msg);
	pub_result_release(&res);
	OPENSSL_free(der);
	smp_certinfo_free(signer_ci);
	smp_certinfo_free(ci);
	return r == SMP_ERR_NOMEM ? r : 0;
}

static int harvest_message(const smp_message *m, void *arg)
{
	struct harvest_run *h = arg;

	switch (m->kind) {
	case SMP_MSG_MALFORMED:
		message_item(h, m, NULL, "failed", "malformed", 65,
			     m->problem != NULL ? m->problem : "malformed message");
		return 0;
	case SMP_MSG_ENCRYPTED:
		message_item(h, m, NULL, "skipped", "encrypted", 0, "encrypted only: no signer "
			     "certificate to take (ask the sender for a signed message)");
		return 0;
	case SMP_MSG_UNSIGNED:
		message_item(h, m, NULL, "skipped", "unsigned", 0, "not signed: no certificate to "
			     "take (ask the sender to sign a message)");
		return 0;
	case SMP_MSG_SIGNED:
		break;
	}
	if (m->n_signers == 0) {
		message_item(h, m, NULL, "skipped", "unsigned", 0, "no signer in the signature");
		return 0;
	}
	for (size_t i = 0; i < m->n_signers; i++) {
		const smp_signer *s = &m->signers[i];

		if (s->cert == NULL) {
			message_item(h, m, s, "failed", "no_signer_certificate", 1,
				     "the message does not carry the signer's certificate: ask "
				     "the sender to include it");
			continue;
		}
		if (harvest_signer(h, m, s) != 0) {
			h->nomem = 1;
			return SMP_ERR_NOMEM;
		}
	}
	return 0;
}

int smp_harvest_paths(smp_session *c, const smp_harvest_options *opts,
		      const char *const *paths, size_t n, smp_error *err)
{
	struct harvest_run h = { c, opts, 0 };

	if (opts == NULL || opts->version != SMP_ENGINE_VERSION ||
	    opts->publish.version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "harvest options of an unknown version");
	for (size_t i = 0; i < n && !h.nomem; i++) {
		smp_error rerr = SMP_ERROR_INIT;
		int r = smp_messages_read(paths[i], harvest_message, &h, &rerr);

		if (r == SMP_ERR_NOFILE || r == SMP_ERR_BADINPUT) {
			int status = smp_exit_status(r);
			smp_item it;

			memset(&it, 0, sizeof(it));
			it.source = paths[i];
			it.action = "failed";
			it.reason = status == 66 ? "file_not_found" : "unreadable";
			it.message = rerr.msg;
			it.status = status;
			pub_emit_item(c, &it, opts->on_item, opts->ctx, NULL);
		} else if (r != 0 && !h.nomem) {
			pub_note_status(c, smp_exit_status(r));
		}
		if (opts->on_progress != NULL)
			opts->on_progress(i + 1, n, opts->ctx);
	}
	if (h.nomem)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot harvest: out of memory");
	return 0;
}

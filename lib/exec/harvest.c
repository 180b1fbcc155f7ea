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
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "pipeline.h"
#include "smimepub/clients.h"
#include "smimepub/message.h"
#include "smimepub/plan.h"

/*
 * Every outcome is a record, kept in message order until its certificate has been through
 * the pipeline: a chunk of certificates to publish goes to pub_bulk at once (a dry run takes
 * each the one-at-a-time way as it comes), and the records are reported in order as their
 * certificates finish.
 */
#define HARVEST_CHUNK 1000
/* ... and records held at most (messages without a certificate to publish count too) */
#define HARVEST_RECORDS 4000

enum { HR_MESSAGE, HR_SIGNER, HR_PUBLISH };

struct hrec {
	int kind;
	smp_message *m;           /* owned copy */
	const smp_signer *s;      /* in m, or NULL */
	const char *action, *reason; /* HR_MESSAGE (static) */
	int status;
	char *message;
	struct pub_result res;    /* HR_SIGNER: decided here */
	smp_certinfo *ci;         /* HR_SIGNER */
	smp_certinfo *signer_ci;  /* HR_SIGNER, HR_PUBLISH */
	int preference;
};

struct harvest_run {
	smp_session *c;
	const smp_harvest_options *o;
	smp_publish_options pub;  /* o->publish without callbacks: harvest reports */
	int nomem;
	struct hrec *recs;
	size_t nrecs, emitted;
	struct pub_item *items;
	size_t nitems;
	struct ca_harvest *ca;    /* --publish-intermediates, else NULL */
	/* smp_harvest_data: what the items of the message at hand came to */
	size_t taken;             /* certificates published, or already there */
	int worst, unsettled;
};

/*
 * Outcomes that say nothing about the message itself: the directory or the journal went away,
 * the run was stopped, access was refused, the entry changed meanwhile. Its next run decides.
 */
static int outcome_unsettled(const smp_item *it)
{
	static const char *const reasons[] = { "unavailable", "insufficient_access", "interrupted",
					       "conflict", "journal_unavailable", "internal_error" };

	if (it->status == 69 || it->status == 77)
		return 1;
	for (size_t i = 0; it->reason != NULL && i < sizeof(reasons) / sizeof(*reasons); i++)
		if (strcmp(it->reason, reasons[i]) == 0)
			return 1;
	return 0;
}

static void hrec_release(struct hrec *r)
{
	smp_message_free(r->m);
	free(r->message);
	pub_result_release(&r->res);
	smp_certinfo_free(r->ci);
	smp_certinfo_free(r->signer_ci);
	memset(r, 0, sizeof(*r));
}

/* A new record about m (copied) and its signer number si (or SIZE_MAX), or NULL. */
static struct hrec *hrec_new(struct harvest_run *h, const smp_message *m, size_t si, int kind)
{
	struct hrec *r;

	if (h->nrecs % 64 == 0) {
		struct hrec *grown = realloc(h->recs, (h->nrecs + 64) * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		h->recs = grown;
	}
	r = &h->recs[h->nrecs];
	memset(r, 0, sizeof(*r));
	if (smp_message_dup(&r->m, m) != 0)
		return NULL;
	r->s = si < r->m->n_signers ? &r->m->signers[si] : NULL;
	r->kind = kind;
	h->nrecs++;
	return r;
}

/* Reports record r; ci and res are its certificate and outcome (HR_SIGNER, HR_PUBLISH). */
static void hrec_emit(struct harvest_run *h, const struct hrec *r, const struct pub_result *res,
		      const smp_certinfo *ci)
{
	smp_item it;

	if (r->kind == HR_MESSAGE) {
		memset(&it, 0, sizeof(it));
		it.source = r->m->file;
		it.action = r->action;
		it.reason = r->reason;
		it.message = r->message;
		it.status = r->status;
	} else {
		pub_item_fill(&it, res, ci, r->m->file);
		it.preference = r->preference;
		it.signer_cert = r->signer_ci;
	}
	it.mail = r->m;
	it.signer = r->s;
	if (outcome_unsettled(&it))
		h->unsettled = 1;
	if (it.status > h->worst)
		h->worst = it.status;
	if (r->kind != HR_MESSAGE && it.status == 0 && strcmp(it.action, "skipped") != 0)
		h->taken++;
	pub_emit_item(h->c, &it, h->o->on_item, h->o->ctx, NULL);
}

/* Reports the records before record `upto` that are not waiting for the pipeline. */
static void emit_until(struct harvest_run *h, size_t upto)
{
	for (; h->emitted < upto; h->emitted++) {
		struct hrec *r = &h->recs[h->emitted];

		if (r->kind != HR_PUBLISH)
			hrec_emit(h, r, &r->res, r->ci);
		hrec_release(r);
	}
}

/* pub_emit_fn: a certificate finished; its record, and those before it, are reported. */
static void harvest_emit(smp_session *c, struct pub_item *it, void *ctx)
{
	struct harvest_run *h = ctx;

	(void)c;
	emit_until(h, it->tag);
	hrec_emit(h, &h->recs[it->tag], &it->p.res, it->ci);
	hrec_release(&h->recs[it->tag]);
	h->emitted = it->tag + 1;
}

/* Runs the chunk's certificates through the pipeline and reports every record in order. */
static void harvest_flush(struct harvest_run *h)
{
	smp_session *c = h->c;
	int r = 0;

	c->pub = &h->pub;
	if (!c->o.dry_run && h->nitems > 0) {
		r = pub_bulk(c, h->items, h->nitems, harvest_emit, h);
	} else {
		for (size_t i = 0; i < h->nitems && r == 0; i++) {
			if ((r = pub_one(c, &h->items[i])) == 0)
				harvest_emit(c, &h->items[i], h);
			pub_item_release(&h->items[i]);
		}
	}
	c->pub = NULL;
	for (size_t i = 0; i < h->nitems; i++)
		pub_item_release(&h->items[i]);
	if (r != 0)
		h->nomem = 1;
	emit_until(h, h->nrecs);
	h->nrecs = h->emitted = h->nitems = 0;
}

/* Records an outcome about message m that carries no certificate of its own. */
static int message_item(struct harvest_run *h, const smp_message *m, size_t si,
			const char *action, const char *reason, int status, const char *message)
{
	struct hrec *r = hrec_new(h, m, si, HR_MESSAGE);

	if (r == NULL)
		return SMP_ERR_NOMEM;
	r->action = action;
	r->reason = reason;
	r->status = status;
	return (r->message = strdup(message)) != NULL ? 0 : SMP_ERR_NOMEM;
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

/* Hands cert (analysed: ci, taken) to the pipeline for record r. Returns 0 or SMP_ERR_NOMEM. */
static int to_publish(struct harvest_run *h, struct hrec *r, X509 *cert, smp_certinfo *ci)
{
	struct pub_item *it = &h->items[h->nitems];
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);

	memset(it, 0, sizeof(*it));
	if (len <= 0 || (it->der = malloc((size_t)len)) == NULL) {
		OPENSSL_free(der);
		smp_certinfo_free(ci);
		return SMP_ERR_NOMEM;
	}
	memcpy(it->der, der, (size_t)len);
	OPENSSL_free(der);
	it->len = (size_t)len;
	it->ci = ci;
	it->source = r->m->file;
	it->tag = (size_t)(r - h->recs);
	r->kind = HR_PUBLISH;
	h->nitems++;
	if (h->nitems == HARVEST_CHUNK)
		harvest_flush(h);
	return 0;
}

/*
 * A signer whose own certificate cannot encrypt (a signing-only certificate) and whose
 * signature names no encryption certificate, but whose message carries a usable certificate
 * for one of its addresses: that one, the best of them (borrowed from m->carried), with its
 * analysis in *best_ci_out (the caller's), else NULL. Partners' clients send their encryption
 * certificate along that way. own: the signer's analysis.
 */
static X509 *carried_encryption_cert(struct harvest_run *h, const smp_message *m,
				     const smp_signer *s, const smp_certinfo *own,
				     smp_certinfo **best_ci_out)
{
	smp_certinfo *best_ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	X509 *best = NULL;

	*best_ci_out = NULL;
	if (s->encryption_cert != NULL || smp_cert_usable(own))
		return NULL;
	for (int i = 0; i < sk_X509_num(m->carried); i++) {
		X509 *x = sk_X509_value(m->carried, i);
		smp_certinfo *ci = NULL;
		int shares = 0;

		if (X509_cmp(x, s->cert) == 0 ||
		    smp_cert_analyze(&ci, x, m->carried, h->c->trust, &err) != 0)
			continue;
		for (size_t k = 0; k < own->n_emails && !shares; k++)
			shares = smp_certinfo_has_email(ci, own->emails[k]) > 0;
		if (shares && !ci->is_ca && smp_cert_usable(ci) &&
		    (best_ci == NULL || smp_plan_better(ci, best_ci))) {
			smp_certinfo_free(best_ci);
			best_ci = ci;
			best = x;
			ci = NULL;
		}
		smp_certinfo_free(ci);
	}
	*best_ci_out = best_ci;
	return best;
}

/*
 * Analyses and checks one signer's certificate (or the one its SMIMEEncryptionKeyPreference
 * names, or the encryption certificate it carries); what may be published goes to the
 * pipeline. Returns 0 or SMP_ERR_NOMEM.
 */
static int harvest_signer(struct harvest_run *h, const smp_message *m, size_t si)
{
	const smp_signer *s = &m->signers[si];
	X509 *cert = s->encryption_cert != NULL ? s->encryption_cert : s->cert, *carried;
	smp_certinfo *ci = NULL, *signer_ci = NULL, *carried_ci = NULL;
	smp_error err = SMP_ERROR_INIT;
	struct hrec *rec;
	int mismatch, r;

	if ((r = smp_cert_analyze(&ci, cert, m->carried, h->c->trust, &err)) != 0)
		goto out;
	if ((carried = carried_encryption_cert(h, m, s, ci, &carried_ci)) != NULL) {
		/* its analysis, with the message's certificates as intermediates, as above */
		smp_certinfo_free(ci);
		ci = carried_ci;
		cert = carried;
	}
	mismatch = smp_signer_problems(ci, cert, m, s, h->c->trust, h->o->allow_from_mismatch,
				       &signer_ci, &err);
	if (mismatch < 0) {
		r = mismatch;
		goto out;
	}
	if ((rec = hrec_new(h, m, si, HR_SIGNER)) == NULL) {
		r = SMP_ERR_NOMEM;
		goto out;
	}
	rec->preference = cert == s->cert ? 0 : cert == s->encryption_cert ? 1 : 2;
	rec->signer_ci = signer_ci;
	signer_ci = NULL;
	if (!s->signature_ok && s->unchecked) {
		r = verdict(&rec->res, "skipped", "content_missing", 1, "the signed content is not "
			    "here, so the signature cannot be checked: not published");
	} else if (!s->signature_ok) {
		r = verdict(&rec->res, "skipped", "bad_signature", 1,
			    s->error != NULL ? s->error : "the signature does not verify");
	} else if (mismatch && !h->o->allow_from_mismatch) {
		r = verdict(&rec->res, "skipped", "from_mismatch", 1, "the certificate's addresses "
			    "do not include the message's From: not published");
	} else if (h->c->dir == NULL) {
		if (smp_certinfo_worst(ci) == SMP_SEV_CRITICAL && !h->o->publish.policy.force)
			r = verdict(&rec->res, "skipped", "critical_problem", 1, "would not be "
				    "published because of the critical problems below");
		else
			r = verdict(&rec->res, "would_publish", NULL, 0, "no directory given: not "
				    "matched to an entry");
	} else {
		r = to_publish(h, rec, cert, ci);
		ci = NULL;
		goto out;
	}
	rec->ci = ci;
	ci = NULL;
out:
	if (r != 0 && r != SMP_ERR_NOMEM)
		/* the certificate could not even be analysed: report it, go on */
		r = message_item(h, m, SIZE_MAX, "failed", "unreadable", 65, err.msg);
	smp_certinfo_free(signer_ci);
	smp_certinfo_free(ci);
	return r;
}

static int any_signature_ok(const smp_message *m)
{
	for (size_t i = 0; i < m->n_signers; i++)
		if (m->signers[i].signature_ok)
			return 1;
	return 0;
}

/* The records of one message. Returns 0 or SMP_ERR_NOMEM. */
static int message_records(struct harvest_run *h, const smp_message *m)
{
	int r = 0;

	switch (m->kind) {
	case SMP_MSG_MALFORMED:
		return message_item(h, m, SIZE_MAX, "failed", "malformed", 65,
				    m->problem != NULL ? m->problem : "malformed message");
	case SMP_MSG_ENCRYPTED:
		return message_item(h, m, SIZE_MAX, "skipped", "encrypted", 0, "encrypted only: no "
				    "signer certificate to take (ask the sender for a signed "
				    "message)");
	case SMP_MSG_UNSIGNED:
		return message_item(h, m, SIZE_MAX, "skipped", "unsigned", 0, "not signed: no "
				    "certificate to take (ask the sender to sign a message)");
	case SMP_MSG_SIGNED:
		break;
	}
	if (m->n_signers == 0)
		return message_item(h, m, SIZE_MAX, "skipped", "unsigned", 0,
				    "no signer in the signature");
	if (h->ca != NULL && any_signature_ok(m) && ca_harvest_pending(h->ca, m)) {
		/* its CAs are reported (and written) now: what came before goes first */
		harvest_flush(h);
		if (h->nomem || ca_harvest_message(h->ca, m) != 0)
			return SMP_ERR_NOMEM;
	}
	for (size_t i = 0; i < m->n_signers && r == 0; i++) {
		if (m->signers[i].cert == NULL)
			r = message_item(h, m, i, "failed", "no_signer_certificate", 1,
					 "the message does not carry the signer's certificate: "
					 "ask the sender to include it");
		else
			r = harvest_signer(h, m, i);
	}
	return r;
}

static int harvest_message(const smp_message *m, void *arg)
{
	struct harvest_run *h = arg;

	if (pub_cancelled(h->c))
		return SMP_ERR_CANCELLED;  /* this message and the rest of the input: not read */
	if (message_records(h, m) != 0) {
		h->nomem = 1;
		return SMP_ERR_NOMEM;
	}
	/* nothing is written in a dry run: each message is reported as it comes; and memory
	   stays bounded on a mailbox of messages with nothing to publish */
	if (h->c->o.dry_run || h->c->dir == NULL || h->nrecs >= HARVEST_RECORDS)
		harvest_flush(h);
	return h->nomem ? SMP_ERR_NOMEM : 0;
}

/* smp_harvest is the run: one per front end's run, fed by paths or by messages */
struct smp_harvest {
	struct harvest_run h;
};

int smp_harvest_begin(smp_harvest **out, smp_session *c, const smp_harvest_options *opts,
		      smp_error *err)
{
	struct smp_harvest *hv;
	struct harvest_run *h;

	*out = NULL;
	if (opts == NULL || opts->version != SMP_ENGINE_VERSION ||
	    opts->publish.version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "harvest options of an unknown version");
	if ((hv = calloc(1, sizeof(*hv))) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot harvest: out of memory");
	h = &hv->h;
	h->c = c;
	h->o = opts;
	h->pub = opts->publish;
	h->pub.on_item = NULL;
	h->pub.on_progress = NULL;
	if ((h->items = calloc(HARVEST_CHUNK, sizeof(*h->items))) == NULL) {
		free(hv);
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot harvest: out of memory");
	}
	if (opts->publish_intermediates) {
		int r = c->dir == NULL ?
			smp_error_set(err, SMP_ERR_USAGE, "publishing intermediates needs a "
				      "directory: its CA containers are read first") :
			ca_harvest_begin(&h->ca, c, opts->ca_base, opts->on_item, opts->ctx, err);

		if (r != 0) {
			free(h->items);
			free(hv);
			return r;
		}
	}
	/* a server that goes away mid-write must be an error to reconnect from, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	smp_window_init(&c->win, opts->publish.jobs > 0 ? (unsigned)opts->publish.jobs : 0,
			smp_window_clock());
	*out = hv;
	return 0;
}

int smp_harvest_data(smp_harvest *hv, const unsigned char *data, size_t len, const char *label,
		     smp_harvest_result *result, smp_error *err)
{
	struct harvest_run *h = &hv->h;
	smp_message *m = NULL;
	int r;

	*result = SMP_HARVEST_UNSETTLED;
	if (h->nomem)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot harvest: out of memory");
	h->taken = 0;
	h->worst = 0;
	h->unsettled = 0;
	if (pub_cancelled(h->c))
		return smp_error_set(err, SMP_ERR_CANCELLED, "harvest was interrupted");
	/* one message, never an mbox: a message that begins with "From " is still one */
	if ((r = smp_message_parse(&m, data, len, label, err)) != 0) {
		if (r == SMP_ERR_NOMEM)
			h->nomem = 1;
		return r;
	}
	r = harvest_message(m, h);
	smp_message_free(m);
	if (r == 0 && !h->nomem)
		harvest_flush(h);
	if (h->nomem)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot harvest: out of memory");
	if (r != 0)
		return smp_error_set(err, r, "harvest was interrupted");
	*result = h->unsettled ? SMP_HARVEST_UNSETTLED :
		  h->taken > 0 && h->worst == 0 ? SMP_HARVEST_DONE : SMP_HARVEST_FAILED;
	return 0;
}

void smp_harvest_end(smp_harvest *hv)
{
	struct harvest_run *h;

	if (hv == NULL)
		return;
	h = &hv->h;
	for (size_t i = 0; i < h->nrecs; i++)
		hrec_release(&h->recs[i]);
	for (size_t i = 0; i < h->nitems; i++)
		pub_item_release(&h->items[i]);
	free(h->recs);
	free(h->items);
	ca_harvest_free(h->ca);
	free(hv);
}

int smp_harvest_paths(smp_session *c, const smp_harvest_options *opts,
		      const char *const *paths, size_t n, smp_error *err)
{
	smp_harvest *hv = NULL;
	struct harvest_run *h;
	int r, nomem;

	if ((r = smp_harvest_begin(&hv, c, opts, err)) != 0)
		return r;
	h = &hv->h;
	for (size_t i = 0; i < n && !h->nomem; i++) {
		smp_error rerr = SMP_ERROR_INIT;

		r = pub_cancelled(c) ? SMP_ERR_CANCELLED
				     : smp_messages_read(paths[i], harvest_message, h, &rerr);
		if (r == SMP_ERR_CANCELLED) {
			/* asked to stop: what was read is reported (its changes not sent are
			   skipped, see pipeline.h), then each input, or its rest, as not done */
			smp_item it;

			harvest_flush(h);
			memset(&it, 0, sizeof(it));
			it.source = paths[i];
			it.action = "skipped";
			it.reason = "interrupted";
			it.message = "not done: harvest was interrupted before this input (or the rest "
				     "of it) was read";
			it.status = 1;
			pub_emit_item(c, &it, opts->on_item, opts->ctx, NULL);
		} else if (r == SMP_ERR_NOMEM) {
			h->nomem = 1;  /* the message cannot be judged: the run stops, said below */
		} else if (r != 0 && !h->nomem) {
			int status = smp_exit_status(r);
			smp_item it;

			harvest_flush(h);  /* what came before is reported before */
			memset(&it, 0, sizeof(it));
			it.source = paths[i];
			it.action = "failed";
			it.reason = status == 66 ? "file_not_found" : "unreadable";
			it.message = rerr.msg;
			it.status = status;
			pub_emit_item(c, &it, opts->on_item, opts->ctx, NULL);
		}
		if (opts->on_progress != NULL)
			opts->on_progress(i + 1, n, opts->ctx);
	}
	/* the last chunk: its failure must be read after it, not before (a write the
	   pipeline could not make for want of memory is said, never dropped) */
	if (!h->nomem)
		harvest_flush(h);
	nomem = h->nomem;
	smp_harvest_end(hv);
	if (nomem)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot harvest: out of memory");
	return 0;
}

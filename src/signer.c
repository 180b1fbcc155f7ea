/* smimepub command line: signer findings and fields shared by inspect and harvest. */
#include "signer.h"

#include <string.h>

const char *cli_signer_from(const smp_message *m, const smp_signer *s)
{
	return s->from != NULL ? s->from : m->from;
}

static int add_mismatch(smp_certinfo *ci, int allow, const char *fmt, const char *from)
{
	int r;

	if (smp_certinfo_problem(ci, "from_mismatch") != NULL)
		return 0;
	r = smp_certinfo_add_problem(ci, "from_mismatch", fmt, from,
		allow ? "published anyway because of --allow-from-mismatch"
		      : "check with the sender (harvest refuses it unless --allow-from-mismatch)");
	if (r == 0 && allow)
		ci->problems[ci->n_problems - 1].severity = SMP_SEV_WARNING;
	return r;
}

int cli_signer_problems(smp_certinfo *ci, X509 *cert, const smp_message *m, const smp_signer *s,
			const smp_trust *trust, int allow_mismatch, smp_certinfo **signer_ci,
			smp_error *err)
{
	const char *from = cli_signer_from(m, s);
	smp_certinfo *sci = NULL;
	int mismatch = 0, r = SMP_ERR_INTERNAL;

	if (signer_ci != NULL)
		*signer_ci = NULL;
	if (from != NULL && !smp_certinfo_has_email(ci, from)) {
		mismatch = 1;
		if ((r = add_mismatch(ci, allow_mismatch, "the certificate is not for the message's "
				      "From address '%s': someone else's certificate may be "
				      "attached; %s", from)) != 0)
			goto out;
	}
	if (cert != s->cert && s->cert != NULL) {
		/* the signer vouches for the encryption certificate: it must be the sender too */
		if ((r = smp_cert_analyze(&sci, s->cert, m->carried, trust, err)) != 0)
			goto out;
		if (from != NULL && !smp_certinfo_has_email(sci, from)) {
			mismatch = 1;
			if ((r = add_mismatch(ci, allow_mismatch, "the signing certificate is not for "
					      "the message's From address '%s', so nothing ties this "
					      "encryption certificate to the sender; %s", from)) != 0)
				goto out;
		}
	}
	if (!s->signature_ok &&
	    (r = smp_certinfo_add_problem(ci, "bad_signature", "the signature does not match the "
					  "message: it was changed after signing or is forged; never "
					  "publish a certificate from it")) != 0)
		goto out;
	if (signer_ci != NULL) {
		*signer_ci = sci;
		sci = NULL;
	}
	r = mismatch;
out:
	smp_certinfo_free(sci);
	return r;
}

void cli_message_fields(json_t *obj, const smp_message *m)
{
	json_object_set_new(obj, "file", json_string(m->file));
	json_object_set_new(obj, "index", json_integer((json_int_t)m->index));
	json_object_set_new(obj, "message_id",
			    m->message_id != NULL ? json_string(m->message_id) : json_null());
	json_object_set_new(obj, "from", m->from != NULL ? json_string(m->from) : json_null());
	if (m->subject != NULL)
		json_object_set_new(obj, "subject", json_string(m->subject));
	json_object_set_new(obj, "kind", json_string(smp_msg_kind_name(m->kind)));
}

void cli_signer_fields(json_t *obj, const smp_message *m, const smp_signer *s, int preference,
		       const smp_certinfo *signer_ci)
{
	const char *from = cli_signer_from(m, s);
	json_t *alg;

	if (from != NULL)
		json_object_set_new(obj, "from", json_string(from));
	json_object_set_new(obj, "source",
			    json_string(preference ? "encryption_key_preference" : "signer"));
	if (signer_ci != NULL)
		json_object_set_new(obj, "signer_sha256", json_string(signer_ci->sha256));
	if ((alg = json_object_get(obj, "signature")) != NULL)
		json_object_set(obj, "signature_algorithm", alg);
	json_object_set_new(obj, "signature", json_string(s->signature_ok ? "ok" : "bad"));
	if (!s->signature_ok && s->error != NULL)
		json_object_set_new(obj, "signature_error", json_string(s->error));
}

const char *cli_message_advice(smp_msg_kind kind)
{
	switch (kind) {
	case SMP_MSG_ENCRYPTED:
		return "encrypted only: no signer certificate to take (ask the sender for a signed "
		       "message)";
	case SMP_MSG_UNSIGNED:
		return "not signed: no certificate to take (ask the sender to sign a message)";
	case SMP_MSG_MALFORMED:
		return "malformed message";
	default:
		return "";
	}
}

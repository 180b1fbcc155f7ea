/* What a signed message says about the certificates it carries: signature and sender. */
#include "smimepub/message.h"

#include <stdlib.h>

/* See message.h. */
const char *smp_signer_from(const smp_message *m, const smp_signer *s)
{
	return s->from != NULL ? s->from : m->from;
}

/* One from_mismatch per certificate: the first reason found is the one reported. */
static int add_mismatch(smp_certinfo *ci, int allow, const char *fmt, const char *from)
{
	int r;

	if (smp_certinfo_problem(ci, "from_mismatch") != NULL)
		return 0;
	r = smp_certinfo_add_problem_with(ci, "from_mismatch", allow ? SMP_REMEDY_SENDER_ALLOWED
					  : SMP_REMEDY_CHECK_SENDER, fmt, from);
	if (r == 0 && allow)
		ci->problems[ci->n_problems - 1].severity = SMP_SEV_WARNING;
	return r;
}

/* See message.h. */
int smp_signer_problems(smp_certinfo *ci, X509 *cert, const smp_message *m,
			const smp_signer *s, const smp_trust *trust, int allow_mismatch,
			smp_certinfo **signer_ci, smp_error *err)
{
	const char *from = smp_signer_from(m, s);
	smp_certinfo *sci = NULL;
	int mismatch = 0, has = 1, r = SMP_ERR_INTERNAL;

	if (signer_ci != NULL)
		*signer_ci = NULL;
	if (from != NULL && (has = smp_certinfo_has_email(ci, from)) < 0) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!has) {
		mismatch = 1;
		if ((r = add_mismatch(ci, allow_mismatch, "the certificate is not for the message's "
				      "From address '%s': someone else's certificate may be "
				      "attached", from)) != 0)
			goto out;
	}
	if (cert != s->cert && s->cert != NULL) {
		/* the signer vouches for the encryption certificate: it must be the sender too */
		if ((r = smp_cert_analyze(&sci, s->cert, m->carried, trust, err)) != 0)
			goto out;
		if (from != NULL && (has = smp_certinfo_has_email(sci, from)) < 0) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (!has) {
			mismatch = 1;
			if ((r = add_mismatch(ci, allow_mismatch, "the signing certificate is not for "
					      "the message's From address '%s', so nothing ties this "
					      "encryption certificate to the sender", from)) != 0)
				goto out;
		}
	}
	if (!s->signature_ok && s->unchecked &&
	    (r = smp_certinfo_add_problem(ci, "content_missing", "the signed content is not here "
					  "(a detached signature saved on its own): the signature "
					  "cannot be checked, which says nothing about the mail")) != 0)
		goto out;
	if (!s->signature_ok && !s->unchecked &&
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
	if (r < 0 && err != NULL && err->code == 0)
		smp_error_set(err, r, "cannot judge the signer certificate: out of memory");
	smp_certinfo_free(sci);
	return r;
}

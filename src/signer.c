/* smimepub command line: the signer fields inspect and harvest render alike. */
#include "signer.h"

#include <string.h>

const char *cli_signer_from(const smp_message *m, const smp_signer *s)
{
	return smp_signer_from(m, s);
}

void cli_message_fields(json_t *obj, const smp_message *m)
{
	json_object_set_new(obj, "file", json_string(m->file));
	json_object_set_new(obj, "index", json_integer((json_int_t)m->index));
	json_object_set_new(obj, "message_id",
			    m->message_id != NULL ? json_string(m->message_id) : json_null());
	json_object_set_new(obj, "from", m->from != NULL ? json_string(m->from) : json_null());
	/* not "subject": that is the certificate's (SPEC §5), which this must not overwrite */
	if (m->subject != NULL)
		json_object_set_new(obj, "message_subject", json_string(m->subject));
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
			    json_string(preference == 1 ? "encryption_key_preference" :
					preference == 2 ? "carried_encryption_certificate" : "signer"));
	if (signer_ci != NULL)
		json_object_set_new(obj, "signer_sha256", json_string(signer_ci->sha256));
	if ((alg = json_object_get(obj, "signature")) != NULL)
		json_object_set(obj, "signature_algorithm", alg);
	json_object_set_new(obj, "signature", json_string(s->signature_ok ? "ok" :
							  s->unchecked ? "unchecked" : "bad"));
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

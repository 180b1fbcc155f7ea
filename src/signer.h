/* smimepub command line: what inspect and harvest say alike about signers of signed mail. */
#ifndef SMIMEPUB_SIGNER_H
#define SMIMEPUB_SIGNER_H

#include <jansson.h>

#include "smimepub/cert.h"
#include "smimepub/message.h"

/* The From a signature speaks for: the forwarded message's for a message/rfc822 part. */
const char *cli_signer_from(const smp_message *m, const smp_signer *s);

/*
 * Adds to ci, the analysis of cert (s->cert, or the certificate s's
 * SMIMEEncryptionKeyPreference names), the findings of the message: bad_signature when the
 * signature does not verify; from_mismatch when the message has a From that the certificate
 * is not for, or when cert is the encryption certificate and the signing certificate is not
 * for that From (critical; a warning when allow_mismatch). *signer_ci (may be NULL) receives
 * the signing certificate's analysis when cert is another certificate (caller frees).
 * Returns 1 when from_mismatch applies, 0 when not, or a negative error.
 */
int cli_signer_problems(smp_certinfo *ci, X509 *cert, const smp_message *m, const smp_signer *s,
			const smp_trust *trust, int allow_mismatch, smp_certinfo **signer_ci,
			smp_error *err);

/* Sets file, index, message_id, from, subject and kind of m on obj. */
void cli_message_fields(json_t *obj, const smp_message *m);

/*
 * Sets the signer fields on a certificate record: source ("signer" or
 * "encryption_key_preference"), from, signer_sha256, and "signature" as the message's verdict
 * "ok" | "bad" (SPEC §3) with the algorithm moved to "signature_algorithm".
 */
void cli_signer_fields(json_t *obj, const smp_message *m, const smp_signer *s, int preference,
		       const smp_certinfo *signer_ci);

/* Plain words for a message that has no certificate to take (unsigned, encrypted). */
const char *cli_message_advice(smp_msg_kind kind);

#endif

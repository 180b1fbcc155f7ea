/* smimepub command line: what inspect and harvest say alike about signers of signed mail. */
#ifndef SMIMEPUB_SIGNER_H
#define SMIMEPUB_SIGNER_H

#include <jansson.h>

#include "smimepub/cert.h"
#include "smimepub/message.h"

/* smp_signer_from (message.h). */
const char *cli_signer_from(const smp_message *m, const smp_signer *s);

/* Signer findings (bad_signature, from_mismatch): smp_signer_problems, message.h. */

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

/* smimepub: signed mail as an input (SPEC §3): messages, mbox, Maildir, .p7s / .p7m. */
#ifndef SMIMEPUB_MESSAGE_H
#define SMIMEPUB_MESSAGE_H

#include <stddef.h>

#include <openssl/x509.h>

#include "smimepub/cert.h"
#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Most MIME parts in one message (an mbox: in each of its messages), counted before the
 * message is parsed as its lines that begin with "--" (every MIME delimiter is one). A message
 * with more is refused unparsed as malformed ("more than 10000 MIME parts (a limit)"): MIME
 * parsing builds the whole tree first, about 1.3 KiB a part.
 */
#define SMP_MSG_MAX_PARTS 10000

/*
 * Most header fields in one message, its parts' included, counted the same way as lines that
 * begin like one ("Name:", RFC 5322): about 650 bytes each once parsed ("more than 100000
 * header fields (a limit)"). Real mail has a few hundred.
 */
#define SMP_MSG_MAX_HEADERS 100000

/*
 * What a message is. SIGNED when at least one S/MIME signature was found (whether or not it
 * verifies); else MALFORMED when the MIME structure or a CMS part is broken; else ENCRYPTED
 * when it holds enveloped-data; else UNSIGNED.
 */
typedef enum smp_msg_kind {
	SMP_MSG_SIGNED = 0,
	SMP_MSG_UNSIGNED,
	SMP_MSG_ENCRYPTED,
	SMP_MSG_MALFORMED,
} smp_msg_kind;

/* "signed", "unsigned", "encrypted" or "malformed" (static). */
const char *smp_msg_kind_name(smp_msg_kind kind);

/* One SignerInfo of one signature found in a message. */
typedef struct smp_signer {
	X509 *cert;             /* owned reference: the signer's certificate, NULL when the
				   message does not carry it */
	X509 *encryption_cert;  /* owned reference: the certificate the signed attribute
				   SMIMEEncryptionKeyPreference names, when it is another certificate
				   the message carries; else NULL (use cert to encrypt) */
	int signature_ok;       /* the CMS signature verifies over the signed content (the chain
				   is NOT judged here) */
	char *error;            /* owned: why not, when !signature_ok; else NULL */
	int unchecked;          /* !signature_ok because the signature could not be checked at
				   all (a detached signature whose content was not given), not
				   because it failed: nothing says the message was changed */
	char *from;             /* owned: From addr-spec of the message the signature belongs to
				   (the forwarded one for a message/rfc822 attachment), or NULL */
} smp_signer;

/* One message with every signature found in it, however deeply nested. */
typedef struct smp_message {
	char *file;             /* owned: input path ("-" for stdin; the message's own file in
				   a Maildir) */
	size_t index;           /* 0-based position in the mbox / Maildir; 0 for a single file */
	char *message_id;       /* owned, without <>; NULL when absent */
	char *from;             /* owned: first mailbox of From, addr-spec only; NULL when absent */
	char *subject;          /* owned, decoded UTF-8; NULL when absent */
	smp_msg_kind kind;
	char *problem;          /* owned: what is wrong (always for MALFORMED; may be set for a
				   SIGNED message with a broken part too); else NULL */
	smp_signer *signers;    /* owned array, in the order found */
	size_t n_signers;
	STACK_OF(X509) *carried; /* owned, never NULL: every certificate the message's
				    signatures carry (signers included), de-duplicated */
} smp_message;

/*
 * Called once per message. The message is borrowed and freed when fn returns (X509_up_ref
 * what you keep). A non-zero return stops reading and is returned by the reader.
 */
typedef int (*smp_message_fn)(const smp_message *m, void *ctx);

/*
 * Parses one message held in memory: an RFC 5322 message, or a bare CMS object (.p7m / .p7s
 * as DER, PEM or base64). file (may be NULL: "-") is recorded in the result. A broken
 * message is not an error: it comes back with kind SMP_MSG_MALFORMED and problem set.
 * Returns 0 and a message the caller frees with smp_message_free, or SMP_ERR_NOMEM /
 * SMP_ERR_INTERNAL.
 */
int smp_message_parse(smp_message **out, const unsigned char *data, size_t len, const char *file,
		      smp_error *err);

/*
 * Like smp_message_parse, but data may also be an mbox (it starts with "From "): fn is called
 * for each message in order. Returns 0, an error, or the first non-zero return of fn.
 */
int smp_messages_parse(const unsigned char *data, size_t len, const char *file, smp_message_fn fn,
		       void *ctx, smp_error *err);

/*
 * Reads path, deciding by content: "-" is stdin; a directory with cur/ or new/ is a Maildir
 * (cur/ then new/, file names in byte order); a file starting with "From " is an mbox; a CMS
 * object is a .p7m, or a .p7s whose content is the file of the same name without ".p7s" when
 * that exists; anything else is one message. Calls fn for each message. Returns 0,
 * SMP_ERR_NOFILE (missing or unreadable), SMP_ERR_BADINPUT (a directory that is not a
 * Maildir), or the first non-zero return of fn.
 */
int smp_messages_read(const char *path, smp_message_fn fn, void *ctx, smp_error *err);

/*
 * Reads a detached signature (.p7s: DER, PEM or base64) and verifies it over the bytes of
 * content_path exactly (and, if that fails, over them with LF line ends made CRLF).
 * content_path NULL: the signer is reported with signature_ok 0 ("content not given").
 * Returns 0 and a message the caller frees, or SMP_ERR_NOFILE.
 */
int smp_p7s_read(smp_message **out, const char *p7s_path, const char *content_path,
		 smp_error *err);

void smp_message_free(smp_message *m);

/*
 * A copy of m that outlives the reader's callback (strings copied, certificates shared by
 * reference). Returns 0 and the copy (free with smp_message_free), or SMP_ERR_NOMEM.
 */
int smp_message_dup(smp_message **out, const smp_message *m);

/* ---- What a message says about the certificates it carries ------------------------------ */

/* The From a signature speaks for: the forwarded message's for a message/rfc822 part. */
const char *smp_signer_from(const smp_message *m, const smp_signer *s);

/*
 * Adds to ci, the analysis of cert (s->cert, or the certificate s's
 * SMIMEEncryptionKeyPreference names), the findings of the message: bad_signature when the
 * signature does not verify; from_mismatch when the message has a From that the certificate
 * is not for, or when cert is the encryption certificate and the signing certificate is not
 * for that From (critical, remedy SMP_REMEDY_CHECK_SENDER; with allow_mismatch a warning,
 * remedy SMP_REMEDY_SENDER_ALLOWED). *signer_ci (may be NULL) receives the signing
 * certificate's analysis (with trust, the message's certificates as intermediates) when cert
 * is another certificate (caller frees). Every front end that takes certificates from mail
 * (inspect, harvest) judges them with this. Returns 1 when from_mismatch applies, 0 when
 * not, or a negative error (in err).
 */
int smp_signer_problems(smp_certinfo *ci, X509 *cert, const smp_message *m,
			const smp_signer *s, const smp_trust *trust, int allow_mismatch,
			smp_certinfo **signer_ci, smp_error *err);

#ifdef __cplusplus
}
#endif

#endif

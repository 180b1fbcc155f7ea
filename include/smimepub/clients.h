/*
 * smimepub: what each mail client takes from a recipient's directory entry (SPEC §4), and the
 * one definition of a "usable" certificate. Pure: no I/O, no clock (the time is in the
 * analyses).
 */
#ifndef SMIMEPUB_CLIENTS_H
#define SMIMEPUB_CLIENTS_H

#include <stddef.h>

#include "smimepub/cert.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Whether a client would take the certificate described by ci to encrypt: no expired,
 * not_yet_valid, revoked or malformed problem, its key usage allows encryption and its
 * extended key usage allows e-mail. 0 for NULL (a value that is not a certificate). Every
 * judgement of "usable" (publish's order, audit, prune, lookup) is this one.
 */
int smp_cert_usable(const smp_certinfo *ci);

/*
 * smp_cert_usable for mail to address: also the certificate lists address (a value that is
 * not for the recipient is never usable for it, SPEC §4). address NULL: the recipient is
 * whoever the entry is for, and a certificate with the problem address_mismatch (not for any
 * of the entry's addresses) is not usable.
 */
int smp_cert_usable_for(const smp_certinfo *ci, const char *address);

typedef enum smp_client {
	SMP_CLIENT_OUTLOOK = 0,   /* userSMIMECertificate first, else the first usable value */
	SMP_CLIENT_OWA,           /* the first userCertificate value, usable or not */
	SMP_CLIENT_GPGSM,         /* gpgsm / dirmngr: the first userCertificate value, via mail */
	SMP_CLIENT_THUNDERBIRD,   /* every userCertificate value, via mail */
} smp_client;

#define SMP_CLIENT_COUNT 4

/* "outlook", "owa", "gpgsm", "thunderbird". */
const char *smp_client_name(smp_client c);

/* Which attribute a value is in. */
typedef enum smp_cert_attr {
	SMP_ATTR_NONE = 0,        /* no value */
	SMP_ATTR_SMIME,           /* userSMIMECertificate */
	SMP_ATTR_CERT,            /* userCertificate (either form) */
} smp_cert_attr;

/* What the clients see on one entry, for one recipient. Everything borrowed. */
typedef struct smp_client_input {
	const smp_certinfo *const *smime; /* userSMIMECertificate values (NULL: unreadable) */
	size_t n_smime;
	const smp_certinfo *const *certs; /* userCertificate values in directory order (NULL:
					     not a certificate) */
	size_t n_certs;
	const char *address;      /* the recipient, or NULL (see smp_cert_usable_for) */
	int in_mail;              /* the recipient's address is in the entry's mail attribute:
				     gpgsm and Thunderbird look up mail only */
} smp_client_input;

/* What one client takes. */
typedef struct smp_client_pick {
	smp_cert_attr attr;       /* SMP_ATTR_NONE: it finds no certificate to take */
	size_t index;             /* the value it encrypts with (or tries to), within attr,
				     numbered from 0 as every command numbers values */
	size_t n_taken;           /* values it takes: 0, 1, or every userCertificate value
				     (Thunderbird) */
	int encrypts;             /* encryption to the recipient works with what it takes */
	const char *why;          /* encrypts 0: why not, a static code (smp_client_why_*);
				     NULL when it encrypts */
} smp_client_pick;

/*
 * Why a client cannot encrypt (smp_client_pick.why). Besides these, the code of the problem
 * that makes the value it takes unusable: "expired", "not_yet_valid", "revoked", "malformed"
 * (not a certificate), "no_encryption", "no_email_protection", "address_mismatch" (the
 * value is for someone else: mail would be encrypted to their key).
 */
#define SMP_CLIENT_WHY_NOT_IN_MAIL "no_mail_attribute"     /* looks up mail only */
#define SMP_CLIENT_WHY_NO_CERT "no_certificate"            /* no value where it looks */
#define SMP_CLIENT_WHY_NONE_USABLE "no_usable_certificate" /* Outlook: no value it can use */
#define SMP_CLIENT_WHY_EC_KEY "gpgsm_ec_key"               /* gpgsm 2.2 cannot encrypt to EC */

/*
 * How much a client's failure weighs in a verdict: SMP_SEV_WARNING where the client's own
 * limit is the cause and the entry itself is right for the other clients (not in mail, an EC
 * key for gpgsm), SMP_SEV_CRITICAL otherwise; SMP_SEV_NONE for NULL (it encrypts).
 */
smp_severity smp_client_why_severity(const char *why);

/*
 * For each client (indexed by smp_client), the value it takes from in and whether it can
 * encrypt to in->address with it:
 * - Outlook: when userSMIMECertificate has values, the first of them usable for the
 *   recipient; when none is, it takes the first and fails (it never looks at
 *   userCertificate then); otherwise the first userCertificate value usable for the
 *   recipient; none (no_usable_certificate) when there is none.
 * - OWA: the first userCertificate value, even when it is not usable.
 * - gpgsm / dirmngr: the first userCertificate value, when the address is in mail; gpgsm
 *   2.2 cannot encrypt to an EC key (gpgsm_ec_key).
 * - Thunderbird: every userCertificate value, when the address is in mail; it encrypts with
 *   the first usable one (index), else index 0 and encrypts 0 (why: address_mismatch when a
 *   value is usable but for someone else, else why the first value is not usable).
 */
void smp_clients_pick(smp_client_pick picks[SMP_CLIENT_COUNT], const smp_client_input *in);

#ifdef __cplusplus
}
#endif

#endif

/*
 * smimepub: partner CA certificates where clients take their trust from (SPEC §6).
 *
 * Active Directory keeps them in the configuration partition (read from the root DSE, never
 * guessed from the forest's name): roots in CN=Certification Authorities, intermediates and
 * cross-certificates in CN=AIA, both under CN=Public Key Services,CN=Services. Windows puts
 * the first into every domain member's Trusted Root store and the second into its
 * Intermediate store. OpenLDAP has no such convention: both are one --ca-base container
 * (default ou=CAs above the search base). Which layout a directory has is profile data
 * (smp_profile's ca_* fields), never a comparison of the profile's name.
 */
#ifndef SMIMEPUB_CA_H
#define SMIMEPUB_CA_H

#include <stddef.h>

#include <lber.h>

#include "smimepub/dir.h"
#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The two containers of a directory; the same DN twice where the profile has one. */
typedef struct smp_ca_containers {
	char *roots;          /* self-signed roots (malloc'd, RFC 4514 as libldap writes it) */
	char *intermediates;  /* intermediates and cross-certificates (malloc'd) */
} smp_ca_containers;

#define SMP_CA_CONTAINERS_INIT { NULL, NULL }

/*
 * The containers profile p puts CA certificates in, without I/O. With p->ca_root_dse_attr
 * (Active Directory), partition is that root DSE attribute's value (the configuration
 * naming context) and each container is the profile's RDNs above it; ca_base and base are
 * ignored. Without it, both containers are ca_base, or when ca_base is NULL the profile's
 * ca_default_base_rdn above base. Every DN is checked and normalised by libldap. Returns 0
 * and fills *out (release with smp_ca_containers_release; cleared first); SMP_ERR_USAGE
 * when a needed DN is missing or is not a DN (the message names which), SMP_ERR_NOMEM.
 */
int smp_ca_containers_for(smp_ca_containers *out, const smp_profile *p, const char *partition,
			  const char *base, const char *ca_base, smp_error *err);

/*
 * smp_ca_containers_for on a connected directory: the partition read from d's root DSE,
 * base = smp_dir_base(d). SMP_ERR_NOTFOUND when the root DSE does not name the partition
 * (a directory that says it is Active Directory without a configuration naming context);
 * else as smp_ca_containers_for.
 */
int smp_dir_ca_containers(smp_ca_containers *out, smp_dir *d, const char *ca_base,
			  smp_error *err);

/* Frees the DNs and clears c; NULL and a cleared c are fine. */
void smp_ca_containers_release(smp_ca_containers *c);

/* Which of the containers an entry was found in. */
typedef enum smp_ca_container_kind {
	SMP_CA_IN_ROOTS = 1,          /* the roots' container (AD: Certification Authorities) */
	SMP_CA_IN_INTERMEDIATES = 2,  /* the intermediates' (AD: AIA) */
	SMP_CA_IN_BOTH = 3            /* one container holds both (OpenLDAP): what a value is
					 follows from the certificate alone */
} smp_ca_container_kind;

/* One CA certificate value found in a container; everything borrowed for the callback. */
typedef struct smp_ca_value {
	const char *dn;                  /* the entry holding it */
	const char *container;           /* the container it is in */
	smp_ca_container_kind in;
	const char *attr;                /* the attribute as the server named it
					    ("cACertificate", "cACertificate;binary",
					    "crossCertificatePair") */
	int cross;                       /* 1: from crossCertificatePair */
	const struct berval *der;        /* the value as stored: DER of a certificate (not
					    checked here: the caller decodes and reports) */
	size_t index;                    /* its place among the entry's values of attr */
} smp_ca_value;

/*
 * Calls fn for every CA certificate value (cACertificate in either form, and
 * crossCertificatePair) of every entry directly below each container of c (a container
 * named twice is walked once, as SMP_CA_IN_BOTH), in the server's order. A missing
 * container holds nothing (no error: OpenLDAP's ou=CAs exists only once something was
 * published). Stops when fn returns non-zero and returns that. Returns 0, SMP_ERR_USAGE for
 * a backend that has no such search (an LDIF export), SMP_ERR_ACCESS when the server refuses
 * the search, or another error with the server's diagnostics.
 */
int smp_dir_ca_walk(smp_dir *d, const smp_ca_containers *c,
		    int (*fn)(const smp_ca_value *v, void *ctx), void *ctx, smp_error *err);

#ifdef __cplusplus
}
#endif

#endif

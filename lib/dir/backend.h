/*
 * smimepub: what a directory backend provides (internal to lib/dir).
 *
 * smp_dir is one interface over several kinds of directory: a server reached with libldap
 * (ldap.c) and an LDIF export read as a read-only directory (ldif.c). dir.c owns struct
 * smp_dir, its public functions and whatever does not depend on the backend (filters, DNs,
 * contact names, refusals); each backend fills a table of operations. An operation a backend
 * cannot do is NULL in its table: dir.c then fails with SMP_ERR_USAGE saying so, the same
 * way for every backend, so no public function has to ask which backend it is talking to.
 */
#ifndef SMIMEPUB_DIR_BACKEND_H
#define SMIMEPUB_DIR_BACKEND_H

#include <stddef.h>

#include <ldap.h>

#include "smimepub/dir.h"

/* What search_values hands out: one value, borrowed for the call. */
typedef int (*dir_value_fn)(const char *dn, const char *attr, size_t index,
			    const struct berval *v, void *ctx);

struct smp_dir_ops {
	/* for refusals: "cannot <what>: <name> '<uri>' <refusal>" */
	const char *name;        /* "the LDIF export" */
	const char *refusal;     /* "is read-only" */

	/* as the public functions of the same name; arguments already checked by dir.c */
	int (*find_by_address)(smp_dir *d, const char *addr, smp_entry ***out, size_t *n,
			       smp_error *err);
	int (*read)(smp_dir *d, const char *dn, smp_entry **out, smp_error *err);
	int (*modify)(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
		      smp_error *err);
	/* adds the contact c (made by dir.c's smp_dir_contact_new) */
	int (*add_contact)(smp_dir *d, const smp_contact *c, smp_error *err);
	int (*delete_entry)(smp_dir *d, const char *dn, smp_error *err);
	/* who the connection is bound as (malloc'd), or NULL when out of memory */
	char *(*identity)(smp_dir *d);
	/* 1 / 0 whether the schema has attr, -1 when unknown; NULL: always unknown */
	int (*schema_has_attribute)(smp_dir *d, const char *attr);
	/* 1 / 0 whether an entry of structural class cls may hold attr, -1 when unknown */
	int (*class_may_hold)(smp_dir *d, const char *cls, const char *attr);
	/* the first value of attr in the root DSE (malloc'd), or NULL */
	char *(*root_dse_value)(smp_dir *d, const char *attr);
	/* the DNs (malloc'd, each and the array) of the entries below base matching filter;
	   0, or -1 when the search failed (no base is no entries) */
	int (*find_dns)(smp_dir *d, const char *base, const char *filter, char ***out,
			size_t *n);
	/* every value of the attributes attrs (NULL-terminated; as the server names them in
	   its answer) of the entries at scope (LDAP_SCOPE_*) of base matching filter, to fn in
	   the server's order with the entry's DN and the value's place among the entry's
	   values of that attribute; a missing base holds no entries. Stops when fn returns
	   non-zero and returns that */
	int (*search_values)(smp_dir *d, const char *base, int scope, const char *filter,
			     char **attrs, dir_value_fn fn, void *ctx, smp_error *err);
	int (*walk)(smp_dir *d, int (*fn)(const smp_entry *e, void *ctx),
		    void (*on_referral)(const char *url, void *ctx), void *ctx, smp_error *err);
	/* filter: the OR of every address's smp_dir_address_filter */
	int (*find_addresses_send)(smp_dir *d, const char *filter, int *msgid, smp_error *err);
	int (*read_send)(smp_dir *d, const char *dn, int *msgid, smp_error *err);
	int (*modify_send)(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
			   int *msgid, smp_error *err);
	int (*next_reply)(smp_dir *d, smp_dir_reply *out, smp_error *err);
	int (*reconnect)(smp_dir *d, smp_error *err);
	/* clears the password kept for reconnect; NULL: the backend keeps none */
	void (*forget_password)(smp_dir *d);
	struct ldap *(*ldap)(smp_dir *d);
	/* frees d->be (and nothing else of d); NULL be is fine */
	void (*close)(smp_dir *d);
};

struct smp_dir {
	const struct smp_dir_ops *ops;
	void *be;                    /* the backend's own state */
	char *uri;                   /* the server's URI, or the export's path */
	char *base;
	const smp_profile *profile;
	char *warning;
	smp_hint warning_hint;       /* what to do about it (SMP_HINT_NONE) */
	int last_rc;                 /* LDAP result code of the last operation */
	char **address_lists;        /* Exchange's built-in address lists found (dir.c), read
					once: every contact created gets the same */
	size_t n_address_lists;
	int address_lists_read;
};

/*
 * The backend's search_values, or SMP_ERR_USAGE ("cannot <what>: the LDIF export ... is
 * read-only") when it has none.
 */
int dir_search_values(smp_dir *d, const char *what, const char *base, int scope,
		      const char *filter, char **attrs, dir_value_fn fn, void *ctx,
		      smp_error *err);

/* A zeroed smp_dir for ops (be NULL), or NULL when out of memory. */
smp_dir *smp_dir_new(const struct smp_dir_ops *ops);

/*
 * "(|(mail=A)(proxyAddresses=smtp:A))" after the profile's match attributes, with A escaped
 * per RFC 4515 by libldap; for an internationalised domain the same again for the address's
 * Unicode form, since entries hold addresses as they were typed. Caller frees *out.
 */
int smp_dir_address_filter(char **out, const smp_profile *p, const char *addr, smp_error *err);

/*
 * The RDNs of dn, leaf first, each in its RFC 4514 string form as libldap normalises it
 * (spacing and escapes settled); free with smp_dir_rdns_free. Returns 0 or -1 when dn is not
 * a DN (or out of memory).
 */
int smp_dir_rdns(char ***out, size_t *n, const char *dn);

/*
 * smp_dir_rdns with each RDN written by fmt (malloc'd, or NULL: fails), e.g. as a comparison
 * key or for display. Returns 0 or -1.
 */
int smp_dir_rdns_map(char ***out, size_t *n, const char *dn, char *(*fmt)(LDAPRDN rdn));
void smp_dir_rdns_free(char **v, size_t n);

/* The RDNs joined with ',' (the normalised DN), malloc'd, or NULL when out of memory. */
char *smp_dir_rdns_join(char *const *rdns, size_t n);

/*
 * The RDNs of dn, leaf first, each as its comparison key (dn.c): one string for every
 * spelling of the RDN a directory would take as the same -- escapes, spacing, the type's
 * case, alias or OID, the order of a multi-valued RDN's AVAs -- compared with strcasecmp.
 * For matching only, not for display. Free with smp_dir_rdns_free; joined with
 * smp_dir_rdns_join they are the DN's key. Returns 0 or -1 when dn is not a DN (or out of
 * memory).
 */
int smp_dir_rdn_keys(char ***out, size_t *n, const char *dn);

/*
 * Makes room in the NULL-terminated entry array *v for its element count (the terminator
 * follows it) and returns where that element goes, or NULL when out of memory (*v kept).
 */
smp_entry **smp_dir_entries_slot(smp_entry ***v, size_t count);

#endif

/*
 * smimepub (internal): the encoding of what the parent and its analysis workers exchange
 * (workers.h): a growable byte buffer to write into, a reader over a received frame, and
 * certificate analyses (smp_certinfo) in that encoding. Both ends are the same program on the
 * same machine: integers go in native byte order.
 */
#ifndef SMIMEPUB_FRAME_H
#define SMIMEPUB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "smimepub/audit.h"
#include "smimepub/cert.h"
#include "smimepub/dir.h"

/* A growable byte buffer; failed set once an allocation failed (later writes do nothing). */
struct buf {
	unsigned char *p;
	size_t len, cap;
	int failed;
};

/* A reader over a received frame; bad set once it ran past the end or met nonsense. */
struct rd {
	const unsigned char *p;
	size_t len, off;
	int bad;
};

/* Appends len bytes of data. */
void buf_put(struct buf *b, const void *data, size_t len);

void buf_u32(struct buf *b, uint32_t v);
void buf_u64(struct buf *b, uint64_t v);

/* Bytes as a length, the bytes and a NUL (so the reader can point at strings in place). */
void buf_bytes(struct buf *b, const void *data, size_t len);

/* A string, or NULL as the length UINT32_MAX. */
void buf_str(struct buf *b, const char *s);

/* The next len bytes, borrowed from the frame, or NULL (and bad) past its end. */
const void *rd_take(struct rd *r, size_t len);

/* Numbers written by buf_u32 / buf_u64 (0 once bad). */
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);

/* Bytes written by buf_bytes / buf_str, in place (NUL-terminated); NULL for a NULL string. */
const char *rd_bytes(struct rd *r, size_t *len);
const char *rd_str(struct rd *r);

/* A zeroed array of n (+1) elements of size, or NULL (with bad) when n is not plausible. */
void *rd_array(struct rd *r, size_t n, size_t size);

/* Appends every field of ci the publish pipeline reads (not the X509 itself). */
void buf_certinfo(struct buf *b, const smp_certinfo *ci);

/*
 * Reads an analysis written by buf_certinfo into a new smp_certinfo (caller frees with
 * smp_certinfo_free) whose x509 is NULL and whose problem codes are the library's static
 * strings. Returns 0, SMP_ERR_NOMEM, or SMP_ERR_INTERNAL when the frame is damaged (r->bad).
 */
int rd_certinfo(struct rd *r, smp_certinfo **out);

/*
 * A directory entry as audit and prune read it (DN, cn, mail, proxyAddresses, certificates
 * with the attribute each was read in, userSMIMECertificate), appended to b.
 */
void buf_entry(struct buf *b, const smp_entry *e);

/*
 * Reads an entry written by buf_entry into e: its strings and values point into the frame,
 * only the arrays are allocated (free with rd_entry_release). Returns 0 or SMP_ERR_INTERNAL
 * when the frame is damaged.
 */
int rd_entry(struct rd *r, smp_entry *e);

void rd_entry_release(smp_entry *e);

/*
 * An audited entry (smp_audit_entry, without the entry itself: send that with buf_entry):
 * the address judged for, every value with its analysis or problems, the entry's problems,
 * the userSMIMECertificate values and the client picks, appended to b.
 */
void buf_audit_entry(struct buf *b, const smp_audit_entry *a);

/*
 * Reads an audited entry written by buf_audit_entry into a new smp_audit_entry (caller frees
 * with smp_audit_entry_free) that borrows e, the entry it was made from (each value's attr
 * points into e). Returns 0, SMP_ERR_NOMEM, or SMP_ERR_INTERNAL when the frame is damaged.
 */
int rd_audit_entry(struct rd *r, const smp_entry *e, smp_audit_entry **out);

#endif

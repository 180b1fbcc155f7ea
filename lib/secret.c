/*
 * smimepub: memory for secrets (see smimepub/secret.h). A password copied by strdup sits in
 * the heap among everything else: a core dump, swap or a forked child may carry it long
 * after explicit_bzero would have been called. So each secret gets a mapping of its own, with
 * the flags the kernel offers for exactly this, and the process stops being dumpable.
 */
#include "smimepub/secret.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Ahead of the bytes handed out: the size of the whole mapping (kept 16-byte aligned). */
struct secret_head {
	size_t map_len;
	size_t pad;
};

void *smp_secret_alloc(size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t psz = page > 0 ? (size_t)page : 4096;
	size_t len;
	struct secret_head *h;

	if (n > SIZE_MAX - sizeof(*h) - psz)
		return NULL;
	len = (sizeof(*h) + n + psz - 1) / psz * psz;
	/* before the secret exists: nothing may dump it, even between the two calls below */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return NULL;
#ifdef MADV_DONTDUMP
	(void)madvise(h, len, MADV_DONTDUMP);
#endif
#ifdef MADV_WIPEONFORK
	(void)madvise(h, len, MADV_WIPEONFORK);  /* Linux 4.14 */
#endif
	(void)mlock(h, len);  /* may exceed RLIMIT_MEMLOCK: the flags above still hold */
	h->map_len = len;
	return h + 1;
}

char *smp_secret_strdup(const char *s)
{
	size_t n;
	char *p;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if ((p = smp_secret_alloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n + 1);
	return p;
}

void smp_secret_free(void *p)
{
	struct secret_head *h;
	size_t len;

	if (p == NULL)
		return;
	h = (struct secret_head *)p - 1;
	len = h->map_len;
	explicit_bzero(h, len);
	(void)munlock(h, len);
	(void)munmap(h, len);
}

/* The version name of libc's dlsym, read from the loaded objects' own
 * version definitions.  A list of names would have to follow every glibc
 * port: the symbol has its port's baseline version (GLIBC_2.0, 2.2,
 * 2.2.5, 2.4, 2.16, 2.17, 2.27...) up to glibc 2.33, where it lives in
 * libdl, and GLIBC_2.34 from then on, in libc (2.36 on LoongArch, which
 * came later).
 *
 * Runs once, at the first lookup that needs libc's dlsym.  Sanitizer
 * runtimes make that lookup while they start (see dlsym-route.c), so this
 * calls nothing they intercept (dl_iterate_phdr, string functions): only
 * dladdr1, for our own place in the loader's list of objects, which it
 * then walks.  The objects up to libc (or libdl) were loaded at start-up
 * and cannot be unloaded, so reading them needs no lock; the list's head
 * is found from our own entry because the debugger's _r_debug would make
 * ld.so a second NEEDED entry.  */
#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>

#include "p11logout.h"

/* What one object's dynamic section says about its dynamic symbols. */
struct dyn_info {
	const ElfW(Sym) *sym;
	const char *str;
	const ElfW(Half) *versym;
	const ElfW(Verdef) *verdef;
	const uint32_t *gnu_hash;
	const Elf_Symndx *sysv_hash;
	size_t count;		/* from DT_MIPS_SYMTABNO where there is one */
};

P11L_NO_SANITIZE static int same_str(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* glibc relocates the dynamic entries in place where the section is
 * writable; where it is read-only (MIPS, RISC-V before glibc 2.35, the
 * vDSO) they stay relative to the load address, which is above them. */
P11L_NO_SANITIZE static const void *dyn_ptr(const struct link_map *l,
					    ElfW(Addr) v)
{
	return (const void *)(uintptr_t)(v < l->l_addr ? v + l->l_addr : v);
}

P11L_NO_SANITIZE static void read_dynamic(const struct link_map *l,
					  struct dyn_info *d)
{
	/* Field by field: a compound literal is a memcpy call at -O0, one
	 * more symbol version (tests/exports.sh), on a path that must call
	 * nothing a sanitizer intercepts. */
	d->sym = NULL;
	d->str = NULL;
	d->versym = NULL;
	d->verdef = NULL;
	d->gnu_hash = NULL;
	d->sysv_hash = NULL;
	d->count = 0;
	for (const ElfW(Dyn) *e = l->l_ld; e && e->d_tag != DT_NULL; e++) {
		switch (e->d_tag) {
		case DT_SYMTAB: d->sym = dyn_ptr(l, e->d_un.d_ptr); break;
		case DT_STRTAB: d->str = dyn_ptr(l, e->d_un.d_ptr); break;
		case DT_VERSYM: d->versym = dyn_ptr(l, e->d_un.d_ptr); break;
		case DT_VERDEF: d->verdef = dyn_ptr(l, e->d_un.d_ptr); break;
		case DT_GNU_HASH: d->gnu_hash = dyn_ptr(l, e->d_un.d_ptr); break;
		case DT_HASH: d->sysv_hash = dyn_ptr(l, e->d_un.d_ptr); break;
#ifdef DT_MIPS_SYMTABNO
		case DT_MIPS_SYMTABNO: d->count = e->d_un.d_val; break;
#endif
		default: break;
		}
	}
}

/* The GNU hash of "dlsym" (h = h * 33 + c from 5381) and its SysV ELF
 * hash, both computed once by hand-rolled loops: string functions may be
 * the sanitizer's, and it is asking us while it starts. */
P11L_NO_SANITIZE static uint32_t gnu_hash(const char *s)
{
	uint32_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

P11L_NO_SANITIZE static uint32_t sysv_hash(const char *s)
{
	uint32_t h = 0;

	while (*s) {
		h = (h << 4) + (unsigned char)*s++;
		h ^= (h >> 24) & 0xf0;
	}
	return h & 0x0fffffff;
}

/* Visits the symbols named "dlsym" through the object's hash table, as
 * the loader would: reading every symbol of a large library such as
 * libcrypto was most of what a signing process spent in ours
 * (BENCHMARK.md).  An object without either
 * table (the loader could not look it up either) is read symbol by symbol
 * only where MIPS says how many symbols it has.  Returns what visit returned
 * first that is not NULL. */
typedef const char *(*visit_fn)(const struct dyn_info *, size_t);

P11L_NO_SANITIZE static const char *each_dlsym(const struct dyn_info *d,
					       visit_fn visit)
{
	static const char name[] = "dlsym";
	const char *v;

	if (d->gnu_hash) {
		const uint32_t *g = d->gnu_hash;
		uint32_t nbuckets = g[0], base = g[1], words = g[2], shift = g[3];
		const ElfW(Addr) *bloom = (const void *)(g + 4);
		const uint32_t *buckets = (const void *)(bloom + words);
		const uint32_t *chain = buckets + nbuckets;
		const unsigned bits = sizeof(ElfW(Addr)) * 8;
		uint32_t h = gnu_hash(name);
		ElfW(Addr) w, want;

		if (!nbuckets || !words)
			return NULL;
		w = bloom[(h / bits) % words];
		want = ((ElfW(Addr))1 << (h % bits)) |
		       ((ElfW(Addr))1 << ((h >> shift) % bits));
		if ((w & want) != want)
			return NULL;
		for (uint32_t i = buckets[h % nbuckets]; i >= base; i++) {
			uint32_t c = chain[i - base];

			if ((c | 1) == (h | 1) &&
			    same_str(d->str + d->sym[i].st_name, name) &&
			    (v = visit(d, i)))
				return v;
			if (c & 1)
				break;
		}
		return NULL;
	}
	if (d->sysv_hash) {
		const Elf_Symndx *t = d->sysv_hash;
		Elf_Symndx nbucket = t[0], nchain = t[1];
		const Elf_Symndx *chain = t + 2 + nbucket;

		if (!nbucket)
			return NULL;
		for (Elf_Symndx i = t[2 + sysv_hash(name) % nbucket];
		     i != 0 && i < nchain; i = chain[i])
			if (same_str(d->str + d->sym[i].st_name, name) &&
			    (v = visit(d, i)))
				return v;
		return NULL;
	}
	for (size_t i = 0; i < d->count; i++)
		if (same_str(d->str + d->sym[i].st_name, name) &&
		    (v = visit(d, i)))
			return v;
	return NULL;
}

P11L_NO_SANITIZE static const char *version_name(const struct dyn_info *d,
						 unsigned index)
{
	const ElfW(Verdef) *v = d->verdef;

	for (;;) {
		if (v->vd_ndx == index) {
			const ElfW(Verdaux) *a =
				(const void *)((const char *)v + v->vd_aux);
			return d->str + a->vda_name;
		}
		if (!v->vd_next)
			return NULL;
		v = (const void *)((const char *)v + v->vd_next);
	}
}

/* Symbol i's version name when it is a defined, default, GLIBC_ one
 * (another interposer's dlsym is not what we want). */
P11L_NO_SANITIZE static const char *glibc_default(const struct dyn_info *d,
						  size_t i)
{
	const ElfW(Sym) *s = &d->sym[i];
	unsigned vs = d->versym[i];
	const char *v;

	if (s->st_shndx == SHN_UNDEF || (vs & 0x8000) || vs < 2)
		return NULL;
	v = version_name(d, vs);
	if (v && v[0] == 'G' && v[1] == 'L' && v[2] == 'I' && v[3] == 'B' &&
	    v[4] == 'C' && v[5] == '_')
		return v;
	return NULL;
}

P11L_NO_SANITIZE static const char *object_dlsym_version(const struct link_map *l)
{
	struct dyn_info d;

	read_dynamic(l, &d);
	if (!d.sym || !d.str || !d.versym || !d.verdef)
		return NULL;
	return each_dlsym(&d, glibc_default);
}

P11L_NO_SANITIZE const char *p11l_libc_dlsym_version(void)
{
	Dl_info info;
	struct link_map *l = NULL;

	if (!dladdr1((void *)p11l_libc_dlsym_version, &info, (void **)&l,
		     RTLD_DL_LINKMAP) || !l)
		return NULL;
	while (l->l_prev)
		l = l->l_prev;
	for (; l; l = l->l_next) {
		const char *v = object_dlsym_version(l);

		if (v)
			return v;
	}
	return NULL;
}

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
	*d = (struct dyn_info){ 0 };
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

/* The number of dynamic symbols: the SysV hash says it; the GNU hash
 * ends with the last chain, which starts at the highest bucket. */
P11L_NO_SANITIZE static size_t symbol_count(const struct dyn_info *d)
{
	if (d->count)
		return d->count;
	if (d->sysv_hash)
		return d->sysv_hash[1];
	if (!d->gnu_hash)
		return 0;

	uint32_t nbuckets = d->gnu_hash[0], base = d->gnu_hash[1];
	const ElfW(Addr) *bloom = (const void *)(d->gnu_hash + 4);
	const uint32_t *buckets = (const void *)(bloom + d->gnu_hash[2]);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t last = 0;

	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < base)
		return base;
	while (!(chain[last - base] & 1))
		last++;
	return last + 1;
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

/* The default version of a defined "dlsym" in one object, when it is a
 * GLIBC_ one (another interposer's dlsym is not what we want). */
P11L_NO_SANITIZE static const char *object_dlsym_version(const struct link_map *l)
{
	struct dyn_info d;
	size_t n;

	read_dynamic(l, &d);
	if (!d.sym || !d.str || !d.versym || !d.verdef)
		return NULL;
	n = symbol_count(&d);
	for (size_t i = 0; i < n; i++) {
		const ElfW(Sym) *s = &d.sym[i];
		unsigned vs = d.versym[i];
		const char *v;

		if (s->st_shndx == SHN_UNDEF || (vs & 0x8000) || vs < 2 ||
		    !same_str(d.str + s->st_name, "dlsym"))
			continue;
		v = version_name(&d, vs);
		if (v && v[0] == 'G' && v[1] == 'L' && v[2] == 'I' &&
		    v[3] == 'B' && v[4] == 'C' && v[5] == '_')
			return v;
	}
	return NULL;
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

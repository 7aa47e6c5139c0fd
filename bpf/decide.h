/* decide.h: THE decision routine. Every LSM program and the test-run harness call
 * armor_decide(); compiler/src/model.rs mirrors it step by step (keep them in sync).
 * Needs armor.h, vmlinux.h and bpf_helpers.h included first. */
#ifndef __ARMOR_DECIDE_H__
#define __ARMOR_DECIDE_H__

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x00000100000001b3ULL
#define B_OFFSET 0x9e3779b97f4a7c15ULL
#define B_MULT 0xff51afd7ed558ccdULL

static __always_inline __u64 hash_a_step(__u64 h, __u8 c) { return (h ^ c) * FNV_PRIME; }
static __always_inline __u64 hash_b_step(__u64 h, __u8 c)
{
	h = (h ^ c) * B_MULT;
	return h ^ (h >> 29);
}

/* Byte loops run under bpf_loop (the kernel inlines it): the verifier checks the body once
 * instead of once per byte. Each call hashes one chunk of CHUNK (16) bytes; the request
 * pointer travels in the context (no map lookup per call). */
#define CHUNK 16

struct armor_hash_ctx {
	struct armor_req *r;
	__u64 ha, hb;
	__u32 len;
};

/* At a '/': snapshot the prefix (no byte limit, at most MAX_DIRS levels). The counters live in
 * the map value, not on the stack, so the verifier does not track their exact values (one state
 * per callback instead of one per '/'). */
static __always_inline void armor_slash(struct armor_req *r, __u32 i, __u64 ha, __u64 hb)
{
	__u32 n = r->ndirs;
	if (n < MAX_DIRS) {
		__u32 slot = n & (MAX_DIRS - 1);
		r->dir_len[slot] = i + 1;
		r->dir_a[slot] = ha;
		r->dir_b[slot] = hb;
		r->ndirs = n + 1;
	}
	r->base_len = i + 1; /* start of the basename for now */
}

#define PATH_BYTE(i)                                                                              \
	do {                                                                                     \
		__u8 c = r->path[(i) & (MAX_PATH - 1)];                                          \
		ha = hash_a_step(ha, c);                                                         \
		hb = hash_b_step(hb, c);                                                         \
		if (c == '/')                                                                    \
			armor_slash(r, (i), ha, hb);                                             \
	} while (0)

static long armor_path_chunk(__u64 k, void *vctx)
{
	struct armor_hash_ctx *x = vctx;
	struct armor_req *r = x->r;
	__u64 ha = x->ha, hb = x->hb; /* in registers for the whole chunk */
	__u32 i = (__u32)k * CHUNK;
	if (i + CHUNK <= x->len) {
		/* a full chunk: no per-byte bounds test */
#pragma unroll
		for (__u32 j = 0; j < CHUNK; j++)
			PATH_BYTE(i + j);
	} else {
#pragma unroll
		for (__u32 j = 0; j < CHUNK; j++) {
			if (i + j >= x->len)
				break;
			PATH_BYTE(i + j);
		}
	}
	x->ha = ha;
	x->hb = hb;
	return 0;
}

/* hash_a and hash_b of buf[start..len) (a basename, a source path, an argument) */
struct armor_bytes_ctx {
	const char *buf;
	__u64 ha, hb;
	__u32 start, len;
};

static long armor_bytes_chunk(__u64 k, void *vctx)
{
	struct armor_bytes_ctx *x = vctx;
	__u64 ha = x->ha, hb = x->hb;
	__u32 i = x->start + (__u32)k * CHUNK;
#pragma unroll
	for (__u32 j = 0; j < CHUNK; j++) {
		if (i + j >= x->len)
			break;
		__u8 c = x->buf[(i + j) & (MAX_PATH - 1)];
		ha = hash_a_step(ha, c);
		hb = hash_b_step(hb, c);
	}
	x->ha = ha;
	x->hb = hb;
	return 0;
}

static __always_inline void armor_hash_bytes(const char *buf, __u32 start, __u32 len, __u64 *ha, __u64 *hb)
{
	struct armor_bytes_ctx x = {.buf = buf, .ha = FNV_OFFSET, .hb = B_OFFSET, .start = start, .len = len};
	if (len > start)
		bpf_loop((len - start + CHUNK - 1) / CHUNK, armor_bytes_chunk, &x, 0);
	*ha = x.ha;
	*hb = x.hb;
}

/* One pass over r->path: full-path hashes and a snapshot at every '/' (the directory prefixes);
 * the basename (exec-name lookup) is hashed separately, for exec only. */
static __always_inline void armor_hash_path(struct armor_req *r)
{
	struct armor_hash_ctx x = {.r = r, .ha = FNV_OFFSET, .hb = B_OFFSET};
	__u32 len = r->path_len;
	if (len > MAX_PATH)
		len = MAX_PATH;
	x.len = len;
	r->ndirs = 0;
	r->base_len = 0;
	bpf_loop((len + CHUNK - 1) / CHUNK, armor_path_chunk, &x, 0);
	r->path_a = x.ha;
	r->path_b = x.hb;
	__u32 base = r->base_len;
	if (base > len)
		base = len;
	r->base_len = len - base;
	if (r->op == OP_EXEC)
		armor_hash_bytes(r->path, base, len, &r->base_a, &r->base_b);
}

/* source_hash (image.rs) of r->tmp[0..len); 0 for an empty source (= no source). */
static __always_inline __u64 armor_hash_source(struct armor_req *r, __u32 len)
{
	__u64 ha, hb;
	if (len == 0)
		return 0;
	armor_hash_bytes(r->tmp, 0, len > MAX_PATH ? MAX_PATH : len, &ha, &hb);
	__u64 h = ha ^ ((hb << 32) | (hb >> 32));
	return h ? h : 1;
}

/* hash_a of r->tmp[0..len) (an argument) */
static __always_inline __u64 armor_hash_arg(struct armor_req *r, __u32 len)
{
	__u64 ha, hb;
	armor_hash_bytes(r->tmp, 0, len > MAX_ARG_LEN ? MAX_ARG_LEN : len, &ha, &hb);
	return ha;
}

/* A length in 1..mask+1 (mask = 2^k - 1) the verifier can follow: the asm hides len's range
 * from clang so it cannot fold the mask away. */
static __always_inline __u64 armor_size(__u32 len, const __u64 mask)
{
	__u64 n = len - 1;
	asm volatile("%0 &= %1" : "+r"(n) : "i"(mask));
	return n + 1;
}

struct armor_hit {
	struct armor_value v;
	__u32 step;
	__u64 src; /* source of the key that matched (for allowedArgs) */
};

/* Directory walk over the '/' prefixes, shallowest first. Stops at the first prefix without an
 * entry. A recursive dir without HINT decides at once; a recursive dir with HINT is remembered
 * (a deeper one replaces it) and the walk goes on; a non-recursive dir counts only if it is the
 * deepest prefix looked up. A remembered recursive dir beats a deeper non-recursive one. */
static __always_inline int armor_walk(void *inner, struct armor_req *r, __u64 src, bool proc,
				      struct armor_value *out)
{
	struct armor_key k = {.kind = KIND_PATH, .source = src};
	struct armor_value rem = {}, cur = {};
	bool have_rem = false, have_cur = false;
	__u16 bit = proc ? M_EXEC : M_READ;

	for (__u32 i = 0; i < MAX_DIRS; i++) {
		if (i >= r->ndirs)
			break;
		have_cur = false; /* a non-recursive dir matches only the deepest prefix */
		k.len = r->dir_len[i];
		k.a = r->dir_a[i];
		k.b = r->dir_b[i];
		struct armor_value *v = bpf_map_lookup_elem(inner, &k);
		if (!v)
			break;
		__u16 m = proc ? v->process : v->file;
		if ((m & M_DIR) && (m & bit)) {
			if (m & M_RECURSIVE) {
				if (!(m & M_HINT)) {
					*out = *v;
					return 1;
				}
				rem = *v;
				have_rem = true;
			} else {
				cur = *v;
				have_cur = true;
			}
			continue;
		}
		/* global process walk: an entry that is neither a process dir nor a hint ends it */
		if (proc && src == 0 && !(m & (M_DIR | M_EXEC | M_HINT)))
			break;
	}
	if (have_rem) {
		*out = rem;
		return 1;
	}
	if (have_cur) {
		*out = cur;
		return 1;
	}
	return 0;
}

/* Path lookup order: exact+source, walk+source, exact, execname (process only), walk. */
static __always_inline int armor_lookup_path(void *inner, struct armor_req *r, bool proc,
					     struct armor_hit *hit)
{
	struct armor_key k = {.kind = KIND_PATH, .len = r->path_len, .a = r->path_a, .b = r->path_b};
	struct armor_value *v;
	__u16 bit = proc ? M_EXEC : M_READ;

	if (r->src) {
		k.source = r->src;
		v = bpf_map_lookup_elem(inner, &k);
		if (v && ((proc ? v->process : v->file) & bit)) {
			hit->v = *v;
			hit->step = STEP_EXACT_SRC;
			hit->src = r->src;
			return 1;
		}
		if (armor_walk(inner, r, r->src, proc, &hit->v)) {
			hit->step = STEP_DIR_SRC;
			hit->src = r->src;
			return 1;
		}
	}
	k.source = 0;
	v = bpf_map_lookup_elem(inner, &k);
	if (v && ((proc ? v->process : v->file) & bit)) {
		hit->v = *v;
		hit->step = STEP_EXACT;
		hit->src = 0;
		return 1;
	}
	if (proc) {
		struct armor_key e = {.kind = KIND_EXECNAME, .len = r->base_len, .a = r->base_a,
				      .b = r->base_b};
		v = bpf_map_lookup_elem(inner, &e);
		if (v && (v->process & M_EXEC)) {
			hit->v = *v;
			hit->step = STEP_EXECNAME;
			hit->src = 0;
			return 1;
		}
	}
	if (armor_walk(inner, r, 0, proc, &hit->v)) {
		hit->step = STEP_DIR;
		hit->src = 0;
		return 1;
	}
	return 0;
}

/* Posture of a category: 0 = not allowlisted, else POSTURE_BLOCK/POSTURE_AUDIT. */
static __always_inline __u16 armor_posture(void *inner, __u32 category)
{
	struct armor_key k = {.kind = KIND_POSTURE, .len = category};
	struct armor_value *v = bpf_map_lookup_elem(inner, &k);
	if (!v)
		return 0;
	return v->process == POSTURE_BLOCK ? POSTURE_BLOCK : POSTURE_AUDIT;
}

static __always_inline __u32 armor_word(bool deny, bool audit, __u32 by, __u32 step, __u32 rule)
{
	__u32 r = rule == 0xffffffffu || rule >= 0xffffffu ? 0 : rule + 1;
	return (deny ? RES_DENY : 0) | (audit ? RES_AUDIT : 0) | (by << 2) | (step << 4) | (r << 8);
}

/* Unmatched: the category's posture decides when it is allowlisted, else allow. */
static __always_inline __u32 armor_unmatched(void *inner, __u32 category)
{
	__u16 p = armor_posture(inner, category);
	if (!p)
		return armor_word(false, false, BY_DEFAULT, STEP_NONE, 0xffffffffu);
	return armor_word(p == POSTURE_BLOCK, p == POSTURE_AUDIT, BY_POSTURE, STEP_NONE, 0xffffffffu);
}

/* allowedArgs: every argv[1..] must have a KIND_ARG key {exec path, argument, matched source}. */
static __always_inline bool armor_args_match(void *inner, struct armor_req *r, __u64 src)
{
	struct armor_key k = {.kind = KIND_ARG, .a = r->path_a, .source = src};
	if (!r->args_known)
		return false;
	for (__u32 i = 0; i < MAX_ARGS; i++) {
		if (i >= r->argc)
			break;
		k.len = r->arg_len[i];
		k.b = r->arg_a[i];
		if (!bpf_map_lookup_elem(inner, &k))
			return false;
	}
	return true;
}

static __always_inline __u32 armor_decide_exec(void *inner, struct armor_req *r)
{
	struct armor_hit h = {};
	if (!armor_lookup_path(inner, r, true, &h))
		return armor_unmatched(inner, POSTURE_PROCESS);
	__u16 m = h.v.process;
	bool deny = false;
	bool args_ok = (m & M_ARGSET) && armor_args_match(inner, r, h.src);
	if (args_ok)
		deny = false;
	else if ((m & M_PTS) && r->tty)
		deny = true;
	else if (m & M_OWNER)
		deny = !r->owner || (m & M_ARGSET);
	else if ((m & M_DENY) && !(m & M_PTS))
		deny = true;
	return armor_word(deny, false, BY_RULE, h.step, h.v.rule);
}

/* File hooks. kind: OP_OPEN (file_open of a read), OP_PERMISSION (file_permission with a write
 * mask), anything else = a path hook. */
static __always_inline __u32 armor_file_verdict(void *inner, struct armor_req *r, __u32 kind,
						struct armor_hit *h, bool matched)
{
	if (!matched)
		return armor_unmatched(inner, POSTURE_FILE);
	__u16 m = h->v.file;
	bool deny = false;
	if (m & M_OWNER) {
		if (!r->owner)
			deny = true;
		else if (kind == OP_PERMISSION)
			deny = (m & M_READ) && !(m & M_WRITE); /* the owner is still read-only */
		else
			deny = false;
	} else if (kind == OP_OPEN && (m & M_READ) && !(m & M_WRITE)) {
		deny = false; /* read-only entry: reads pass, file_permission decides writes */
	} else if (kind == OP_PERMISSION && (m & M_READ) && !(m & M_WRITE)) {
		deny = true;
	} else if (kind != OP_PERMISSION && (m & M_DENY)) {
		deny = !(m & M_PTS) || r->tty;
	} else if ((m & M_PTS) && r->tty) {
		deny = true;
	}
	return armor_word(deny, false, BY_RULE, h->step, h->v.rule);
}

static __always_inline __u32 armor_decide_file(void *inner, struct armor_req *r)
{
	struct armor_hit h = {};
	bool matched = armor_lookup_path(inner, r, false, &h);
	if (r->op == OP_WRITE) {
		/* file_open, then file_permission(MAY_WRITE): denied if either denies */
		__u32 w = armor_file_verdict(inner, r, OP_OPEN, &h, matched);
		if (w & RES_DENY)
			return w;
		return armor_file_verdict(inner, r, OP_PERMISSION, &h, matched);
	}
	return armor_file_verdict(inner, r, r->op, &h, matched);
}

/* Socket type/protocol as KubeArmor maps them before the protocol lookup. */
static __always_inline __u32 armor_proto(__u32 type, __u32 proto)
{
	if (type == 1 && (proto == 6 || proto == 0))
		return 6;
	if (type == 2 && (proto == 17 || proto == 0))
		return 17;
	if ((proto == 1 || proto == 58) && (type == 2 || type == 3))
		return proto;
	if ((type == 1 || type == 5) && (proto == 132 || proto == 0))
		return 132;
	return proto;
}

static __always_inline __u32 armor_decide_net(void *inner, struct armor_req *r)
{
	struct armor_key k = {};
	struct armor_value *v = 0;
	__u32 step = STEP_NONE;
	__u32 p = armor_proto(r->sock_type, r->sock_proto);

	if (r->src) {
		k = (struct armor_key){.kind = KIND_NET_TYPE, .len = r->sock_type, .source = r->src};
		v = bpf_map_lookup_elem(inner, &k);
		step = STEP_TYPE_SRC;
		if (!v) {
			k = (struct armor_key){.kind = KIND_NET_PROTO, .len = p, .source = r->src};
			v = bpf_map_lookup_elem(inner, &k);
			step = STEP_PROTO_SRC;
		}
	}
	if (!v) {
		k = (struct armor_key){.kind = KIND_NET_TYPE, .len = r->sock_type};
		v = bpf_map_lookup_elem(inner, &k);
		step = STEP_TYPE;
	}
	if (!v) {
		k = (struct armor_key){.kind = KIND_NET_PROTO, .len = p};
		v = bpf_map_lookup_elem(inner, &k);
		step = STEP_PROTO;
	}
	if (!v)
		return armor_unmatched(inner, POSTURE_NETWORK);
	__u16 m = v->process;
	__u32 rule = v->rule;
	bool deny;
	if (m & M_DENY)
		deny = !(m & M_PTS) || r->tty;
	else /* a matched allow with pts:false is denied from a tty only under block posture */
		deny = (m & M_PTS) && r->tty && armor_posture(inner, POSTURE_NETWORK) == POSTURE_BLOCK;
	return armor_word(deny, false, BY_RULE, step, rule);
}

static __always_inline __u32 armor_decide_cap(void *inner, struct armor_req *r)
{
	struct armor_key k = {.kind = KIND_CAPABILITY, .len = r->cap};
	struct armor_value *v = 0;
	__u32 step = STEP_NONE;
	if (r->src) {
		k.source = r->src;
		v = bpf_map_lookup_elem(inner, &k);
		step = STEP_CAP_SRC;
		k.source = 0;
	}
	if (!v) {
		v = bpf_map_lookup_elem(inner, &k);
		step = STEP_CAP;
	}
	if (!v)
		return armor_unmatched(inner, POSTURE_CAPABILITY);
	return armor_word(!!(v->process & M_DENY), false, BY_RULE, step, v->rule);
}

/* The one decision routine: r is fully built (armor_hash_path done, src/args hashed). */
static __always_inline __u32 armor_decide(void *inner, struct armor_req *r)
{
	switch (r->op) {
	case OP_EXEC:
		return armor_decide_exec(inner, r);
	case OP_SOCKET:
		return armor_decide_net(inner, r);
	case OP_CAPABLE:
		return armor_decide_cap(inner, r);
	default:
		return armor_decide_file(inner, r);
	}
}

#endif

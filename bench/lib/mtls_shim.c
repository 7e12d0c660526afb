/* mtls_shim.c - LD_PRELOAD shim that makes a dynamically linked OpenSSL 3 client (wrk)
 * present a client certificate. Adapted from shared/tools/mtls_shim.c; the benchmark builds it
 * at run time (bench/lib/shim.mjs), so it carries what it needs.
 *
 *   MTLS_CERT=/path/cert.pem MTLS_KEY=/path/key.pem   client cert (+chain) and key, PEM
 *   MTLS_SNI=name          server name to send (wrk sends the URL's host, i.e. 127.0.0.1)
 *   MTLS_NO_RESUME=1       drop any cached session before each handshake: wrk keeps the session
 *                          across SSL_clear on reconnect and would silently resume
 *   MTLS_MAX_PROTO=1.2     cap the protocol at TLS 1.2
 *   MTLS_CERT_LIST=FILE MTLS_KEY_LIST=FILE   many clients (bench/scale.mjs): N certificates and
 *                          their N keys, PEMs concatenated in the same order; each handshake
 *                          presents the next one (round robin over all threads), starting at
 *                          MTLS_LIST_OFFSET (default 0). Overrides MTLS_CERT/MTLS_KEY.
 *   MTLS_STATS=FILE        at exit write "attempts=N handshakes=N resumed=N cpu_us=N" to FILE
 *                          ("-" = stderr). attempts = handshakes started (including ones the
 *                          server rejects); handshakes = SSL_connect returned 1 on the client.
 *                          In TLS 1.3 the client finishes before the server has checked its
 *                          certificate, so a rejected attempt still counts as a handshake.
 *                          cpu_us = the load generator's own CPU time (all threads), so the
 *                          harness can tell it apart from other load on a shared machine.
 *
 * build: gcc -O2 -shared -fPIC -o mtls_shim.so mtls_shim.c -ldl -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static unsigned long n_attempts, n_hs, n_resumed;
static const char *stats_path;
static const char *sni;
static int no_resume;
/* Certificate lists: the files are read into memory once and split into PEM blocks; each
 * block is decoded when a handshake uses it (decoding 20,000 keys up front took wrk a minute
 * on a busy machine, and the client's work does not count in the server's figures). */
static char **list_certs, **list_keys;
static unsigned long list_len, list_next;

/* Read a file and return pointers to the start of each "-----BEGIN" block; n = count. */
static unsigned long read_list(const char *path, char ***out) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "[mtls_shim] cannot open %s\n", path); exit(2); }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(size + 1);
    if (fread(buf, 1, size, f) != (size_t)size) { fprintf(stderr, "[mtls_shim] cannot read %s\n", path); exit(2); }
    buf[size] = 0;
    fclose(f);
    unsigned long n = 0, cap = 1024;
    char **items = malloc(cap * sizeof *items);
    for (char *p = strstr(buf, "-----BEGIN"); p; p = strstr(p + 10, "-----BEGIN")) {
        if (n == cap) items = realloc(items, (cap *= 2) * sizeof *items);
        items[n++] = p;
    }
    *out = items;
    return n;
}

static void *decode_block(char *block, int key) {
    BIO *bio = BIO_new_mem_buf(block, -1);
    void *item = key ? (void *)PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : (void *)PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return item;
}

static void report(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* all threads; wrk has joined them before exiting */
    long long cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    FILE *f = strcmp(stats_path, "-") == 0 ? stderr : fopen(stats_path, "w");
    if (!f) return;
    fprintf(f, "attempts=%lu handshakes=%lu resumed=%lu cpu_us=%lld\n",
            __atomic_load_n(&n_attempts, __ATOMIC_RELAXED), __atomic_load_n(&n_hs, __ATOMIC_RELAXED),
            __atomic_load_n(&n_resumed, __ATOMIC_RELAXED), cpu_us);
    if (f != stderr) fclose(f);
}

SSL_CTX *SSL_CTX_new(const SSL_METHOD *m) {
    static SSL_CTX *(*real)(const SSL_METHOD *);
    if (!real) real = dlsym(RTLD_NEXT, "SSL_CTX_new");
    SSL_CTX *ctx = real(m);
    if (!ctx) return ctx;
    const char *cert = getenv("MTLS_CERT"), *key = getenv("MTLS_KEY");
    if (cert && key) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "[mtls_shim] cannot load %s / %s\n", cert, key);
            ERR_print_errors_fp(stderr);
            exit(2);
        }
    }
    const char *cl = getenv("MTLS_CERT_LIST"), *kl = getenv("MTLS_KEY_LIST");
    if (cl && kl && !list_certs) {
        unsigned long nc = read_list(cl, &list_certs);
        unsigned long nk = read_list(kl, &list_keys);
        if (nc == 0 || nc != nk) {
            fprintf(stderr, "[mtls_shim] %s has %lu certificates, %s %lu keys\n", cl, nc, kl, nk);
            exit(2);
        }
        list_len = nc;
        const char *off = getenv("MTLS_LIST_OFFSET");
        list_next = off ? strtoul(off, NULL, 10) : 0;
    }
    const char *mp = getenv("MTLS_MAX_PROTO");
    if (mp && strcmp(mp, "1.2") == 0) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    /* Read the rest of the configuration once; wrk creates its context before any thread. */
    sni = getenv("MTLS_SNI");
    no_resume = getenv("MTLS_NO_RESUME") != NULL;
    stats_path = getenv("MTLS_STATS");
    if (stats_path) { static int reg; if (!reg++) atexit(report); }
    return ctx;
}

int SSL_connect(SSL *s) {
    static int (*real)(SSL *);
    if (!real) real = dlsym(RTLD_NEXT, "SSL_connect");
    /* Non-blocking: SSL_connect is called again on every readiness event; only the first call
     * of a handshake sees the SSL object still "before" the handshake. */
    if (SSL_in_before(s)) {
        if (no_resume) SSL_set_session(s, NULL);
        if (sni) SSL_set_tlsext_host_name(s, sni);
        if (list_len) {
            unsigned long i = __atomic_fetch_add(&list_next, 1, __ATOMIC_RELAXED) % list_len;
            X509 *cert = decode_block(list_certs[i], 0);
            EVP_PKEY *pkey = decode_block(list_keys[i], 1);
            if (!cert || !pkey || SSL_use_certificate(s, cert) != 1 || SSL_use_PrivateKey(s, pkey) != 1) {
                fprintf(stderr, "[mtls_shim] cannot use certificate %lu of the list\n", i);
                ERR_print_errors_fp(stderr);
                exit(2);
            }
            X509_free(cert); /* the SSL object holds its own references */
            EVP_PKEY_free(pkey);
        }
        if (stats_path) __atomic_add_fetch(&n_attempts, 1, __ATOMIC_RELAXED);
    }
    int r = real(s);
    if (r == 1 && stats_path) {
        __atomic_add_fetch(&n_hs, 1, __ATOMIC_RELAXED);
        if (SSL_session_reused(s)) __atomic_add_fetch(&n_resumed, 1, __ATOMIC_RELAXED);
    }
    return r;
}

// Thin shim: OpenSSL's libcrypto HMAC (the Jupyter messages' HMAC-SHA256 signatures).
#include <openssl/evp.h>
#include <openssl/hmac.h>

// Thin shim: libedit's readline-compatible API (line editing, history, completion).
#include <stdio.h>
#include <editline/readline.h>

# Flatten a JSON document into "path<TAB>value" lines (busybox awk):
# {"a": {"b": "x"}, "c": [1, 2]} -> "a/b\tx", "c/0\t1", "c/1\t2".
# String escapes \n \r \t become spaces; \uXXXX becomes "?".
BEGIN { RS = "\001" }
{ text = text $0 }
END { n = length(text); pos = 1; value("") }
function ws() { while (pos <= n && index(" \t\r\n", substr(text, pos, 1)) > 0) pos++ }
function value(path,    c, start) {
    ws(); c = substr(text, pos, 1)
    if (c == "{") object(path)
    else if (c == "[") array(path)
    else if (c == "\"") emit(path, str())
    else {
        start = pos
        while (pos <= n && index(",}] \t\r\n", substr(text, pos, 1)) == 0) pos++
        emit(path, substr(text, start, pos - start))
    }
}
function object(path,    key, c) {
    pos++; ws()
    if (substr(text, pos, 1) == "}") { pos++; return }
    while (pos <= n) {
        ws(); key = str(); ws(); pos++
        value(path == "" ? key : path "/" key)
        ws(); c = substr(text, pos, 1); pos++
        if (c != ",") return
    }
}
function array(path,    i, c) {
    pos++; ws(); i = 0
    if (substr(text, pos, 1) == "]") { pos++; return }
    while (pos <= n) {
        value(path "/" i); i++
        ws(); c = substr(text, pos, 1); pos++
        if (c != ",") return
    }
}
function str(    out, c, e) {
    pos++; out = ""
    while (pos <= n) {
        c = substr(text, pos, 1)
        if (c == "\"") { pos++; return out }
        if (c == "\\") {
            e = substr(text, pos + 1, 1); pos += 2
            if (e == "n" || e == "r" || e == "t") out = out " "
            else if (e == "u") { pos += 4; out = out "?" }
            else out = out e
            continue
        }
        out = out c; pos++
    }
    return out
}
function emit(path, v) { printf "%s\t%s\n", path, v }

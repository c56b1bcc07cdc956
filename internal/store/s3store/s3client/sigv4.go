package s3client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EmptyHash is the SHA-256 of no bytes: the payload hash of a request
// without a body.
const EmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// UnsignedPayload is the payload hash that leaves a body out of the
// signature (S3 accepts it; TLS then protects the body).
const UnsignedPayload = "UNSIGNED-PAYLOAD"

const amzDate = "20060102T150405Z"

// unsignedHeaders are never signed: the transport may add, drop or change
// them on the way.
var unsignedHeaders = map[string]bool{
	"authorization": true, "user-agent": true, "content-length": true, "accept-encoding": true,
	"connection": true, "expect": true, "transfer-encoding": true, "x-amzn-trace-id": true,
}

// Sign adds AWS Signature Version 4 headers to req (X-Amz-Date, the
// session token if any, Authorization), signing the host, every header
// already set on req except unsignedHeaders, the query and payloadHash
// (the body's SHA-256 in hex, EmptyHash or UnsignedPayload). The path is
// signed as req.URL.EscapedPath(), which the caller encodes the AWS way
// (EscapePath); S3 does not normalise paths, so neither does Sign.
func Sign(req *http.Request, c Credentials, region, service string, now time.Time, payloadHash string) {
	now = now.UTC()
	stamp := now.Format(amzDate)
	day := stamp[:8]
	req.Header.Set("X-Amz-Date", stamp)
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	creq, signed := canonicalRequest(req, payloadHash)
	scope := day + "/" + region + "/" + service + "/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + hexHash([]byte(creq))
	key := signingKey(c.SecretAccessKey, day, region, service)
	sig := hex.EncodeToString(hmacSHA256(key, []byte(sts)))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.AccessKeyID+"/"+scope+
		", SignedHeaders="+signed+", Signature="+sig)
}

// canonicalRequest returns the canonical request and the signed headers'
// names (AWS's "Create a canonical request").
func canonicalRequest(req *http.Request, payloadHash string) (creq, signed string) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{"host": host}
	for k, vs := range req.Header {
		lk := strings.ToLower(k)
		if unsignedHeaders[lk] {
			continue
		}
		vals := make([]string, len(vs))
		for i, v := range vs {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		headers[lk] = strings.Join(vals, ",")
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(req.Method)
	b.WriteByte('\n')
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(req.URL.RawQuery))
	b.WriteByte('\n')
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(headers[k])
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	signed = strings.Join(names, ";")
	b.WriteString(signed)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), signed
}

// canonicalQuery sorts the query by name, then value, each encoded the
// AWS way; a name without a value gets "=".
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, _ := url.ParseQuery(raw)
	type kv struct{ k, v string }
	var all []kv
	for k, vs := range q {
		for _, v := range vs {
			all = append(all, kv{escape(k, true), escape(v, true)})
		}
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	parts := make([]string, len(all))
	for i, p := range all {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// EncodeQuery encodes q the way Sign reads it: sorted, AWS escaping.
func EncodeQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return canonicalQuery(q.Encode())
}

// EscapePath encodes an object path the AWS way: every byte but the
// unreserved characters (A-Z a-z 0-9 - . _ ~) and "/" as %XX.
func EscapePath(p string) string { return escape(p, false) }

func escape(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	return b.String()
}

func signingKey(secret, day, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(day))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

func hexHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

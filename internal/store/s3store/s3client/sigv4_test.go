package s3client

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// AWS's published SigV4 examples: cases from the Signature Version 4 test
// suite (service "service", 2015-08-30) and the worked examples of the S3
// API reference ("Authenticating requests: using the Authorization
// header", 2013-05-24). The expected Authorization headers are AWS's.
var (
	suiteCreds = Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	s3Creds    = Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	suiteTime  = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	s3Time     = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
)

// welcomeHash is the SHA-256 of "Welcome to Amazon S3.", the S3 PUT
// example's body.
const welcomeHash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"

func TestSignatureVectors(t *testing.T) {
	cases := []struct {
		name    string
		creds   Credentials
		service string
		at      time.Time
		method  string
		host    string
		path    string // unescaped
		query   string
		headers map[string]string
		payload string
		want    string
	}{
		{"get-vanilla", suiteCreds, "service", suiteTime, "GET", "example.amazonaws.com", "/", "", nil, EmptyHash,
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", suiteCreds, "service", suiteTime, "GET", "example.amazonaws.com", "/", "Param2=value2&Param1=value1", nil, EmptyHash,
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"get-utf8", suiteCreds, "service", suiteTime, "GET", "example.amazonaws.com", "/\u1234", "", nil, EmptyHash,
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
		{"get-unreserved", suiteCreds, "service", suiteTime, "GET", "example.amazonaws.com", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", nil, EmptyHash,
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
		{"post-vanilla", suiteCreds, "service", suiteTime, "POST", "example.amazonaws.com", "/", "", nil, EmptyHash,
			"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"S3 GET object with a range", s3Creds, "s3", s3Time, "GET", "examplebucket.s3.amazonaws.com", "/test.txt", "",
			map[string]string{"Range": "bytes=0-9", "X-Amz-Content-Sha256": EmptyHash}, EmptyHash,
			"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
		{"S3 PUT object", s3Creds, "s3", s3Time, "PUT", "examplebucket.s3.amazonaws.com", "/test$file.text", "",
			map[string]string{"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Storage-Class": "REDUCED_REDUNDANCY", "X-Amz-Content-Sha256": welcomeHash}, welcomeHash,
			"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
		{"S3 GET bucket lifecycle", s3Creds, "s3", s3Time, "GET", "examplebucket.s3.amazonaws.com", "/", "lifecycle",
			map[string]string{"X-Amz-Content-Sha256": EmptyHash}, EmptyHash,
			"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
		{"S3 list objects", s3Creds, "s3", s3Time, "GET", "examplebucket.s3.amazonaws.com", "/", "max-keys=2&prefix=J",
			map[string]string{"X-Amz-Content-Sha256": EmptyHash}, EmptyHash,
			"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &url.URL{Scheme: "https", Host: c.host, Path: c.path, RawPath: EscapePath(c.path), RawQuery: c.query}
			req, err := http.NewRequest(c.method, "https://"+c.host+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL = u
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			Sign(req, c.creds, "us-east-1", c.service, c.at, c.payload)
			if got := req.Header.Get("Authorization"); got != c.want {
				creq, _ := canonicalRequest(req, c.payload)
				t.Errorf("Authorization:\n got %s\nwant %s\ncanonical request:\n%s", got, c.want, creq)
			}
			if got, want := req.Header.Get("X-Amz-Date"), c.at.Format(amzDate); got != want {
				t.Errorf("X-Amz-Date %q, want %q", got, want)
			}
		})
	}
}

// TestCanonicalGetVanilla checks the intermediate steps AWS publishes for
// get-vanilla: the canonical request and the hash in the string to sign.
func TestCanonicalGetVanilla(t *testing.T) {
	req, _ := http.NewRequest("GET", "https://example.amazonaws.com/", nil)
	req.Header.Set("X-Amz-Date", "20150830T123600Z")
	creq, signed := canonicalRequest(req, EmptyHash)
	want := "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + EmptyHash
	if creq != want || signed != "host;x-amz-date" {
		t.Errorf("canonical request:\n%s\nwant:\n%s", creq, want)
	}
	if h := hexHash([]byte(creq)); h != "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63" {
		t.Errorf("hash of the canonical request %s, want AWS's bb5797…", h)
	}
}

// TestSignSessionTokenAndSpaces: a session token is sent and signed; a
// header value's runs of spaces sign as one; the transport's own headers
// are left out.
func TestSignSessionTokenAndSpaces(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://127.0.0.1:7070/b/k", nil)
	req.Header.Set("My-Header", "  a   b  c ")
	req.Header.Set("User-Agent", "x")
	Sign(req, Credentials{AccessKeyID: "id", SecretAccessKey: "s", SessionToken: "tok"}, "eu-west-1", "s3", suiteTime, UnsignedPayload)
	if req.Header.Get("X-Amz-Security-Token") != "tok" {
		t.Error("no X-Amz-Security-Token header")
	}
	auth := req.Header.Get("Authorization")
	if !strings.Contains(auth, "SignedHeaders=host;my-header;x-amz-date;x-amz-security-token,") ||
		!strings.Contains(auth, "Credential=id/20150830/eu-west-1/s3/aws4_request") {
		t.Errorf("Authorization %q", auth)
	}
	creq, _ := canonicalRequest(req, UnsignedPayload)
	if !strings.Contains(creq, "\nmy-header:a b c\n") || !strings.HasSuffix(creq, "\nUNSIGNED-PAYLOAD") {
		t.Errorf("canonical request:\n%s", creq)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a b/c~d+e$é":       "a%20b/c~d%2Be%24%C3%A9",
		"mod/@v/v1.0.0.zip": "mod/%40v/v1.0.0.zip",
	} {
		if got := EscapePath(in); got != want {
			t.Errorf("EscapePath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := canonicalQuery("uploads&b=2&a=x%2Fy+z"); got != "a=x%2Fy%20z&b=2&uploads=" {
		t.Errorf("canonicalQuery = %q", got)
	}
}

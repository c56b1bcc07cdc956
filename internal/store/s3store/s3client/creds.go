package s3client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Credentials sign requests.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// ErrNoCredentials is returned by LoadCredentials when no credentials
// were found.
var ErrNoCredentials = errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials; AWS_PROFILE picks the profile)")

// maxConfigFile bounds what is read of a shared credentials or config file.
const maxConfigFile = 1 << 20

// Env reads the environment (os.Getenv; tests pass their own).
type Env func(string) string

// LoadCredentials finds credentials the way the AWS tools do, first found
// wins: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN; AWS_ACCESS_KEY and AWS_SECRET_KEY too), then the
// profile AWS_PROFILE (default "default") in the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials), then that
// profile in the config file (AWS_CONFIG_FILE, default ~/.aws/config). A
// file that exists but cannot be read or parsed is an error naming it.
func LoadCredentials(getenv Env) (Credentials, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	id := first(getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_ACCESS_KEY"))
	secret := first(getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SECRET_KEY"))
	if id != "" && secret != "" {
		return Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: getenv("AWS_SESSION_TOKEN")}, nil
	}
	profile := first(getenv("AWS_PROFILE"), "default")
	for _, f := range []struct{ file, section string }{
		{credentialsFile(getenv), profile},
		{configFile(getenv), configSection(profile)},
	} {
		sec, err := readINISection(f.file, f.section)
		if err != nil {
			return Credentials{}, err
		}
		if sec["aws_access_key_id"] != "" && sec["aws_secret_access_key"] != "" {
			return Credentials{AccessKeyID: sec["aws_access_key_id"], SecretAccessKey: sec["aws_secret_access_key"],
				SessionToken: sec["aws_session_token"]}, nil
		}
	}
	return Credentials{}, ErrNoCredentials
}

// LoadRegion returns the region the AWS tools would use: AWS_REGION,
// AWS_DEFAULT_REGION, then the profile's region in the config file; ""
// if none is set.
func LoadRegion(getenv Env) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if r := first(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")); r != "" {
		return r, nil
	}
	sec, err := readINISection(configFile(getenv), configSection(first(getenv("AWS_PROFILE"), "default")))
	return sec["region"], err
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func home(getenv Env) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}

func credentialsFile(getenv Env) string {
	if f := getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		return f
	}
	return filepath.Join(home(getenv), ".aws", "credentials")
}

func configFile(getenv Env) string {
	if f := getenv("AWS_CONFIG_FILE"); f != "" {
		return f
	}
	return filepath.Join(home(getenv), ".aws", "config")
}

// configSection is a profile's section name in the config file.
func configSection(profile string) string {
	if profile == "default" {
		return "default"
	}
	return "profile " + profile
}

// readINISection returns the keys of [section] in an INI file; a missing
// file is no keys.
func readINISection(path, section string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading AWS settings %s: %v", path, err)
	}
	defer f.Close()
	out := map[string]string{}
	in := false
	sc := bufio.NewScanner(io.LimitReader(f, maxConfigFile))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("reading AWS settings %s: line %d: a section header needs a closing ]", path, n)
			}
			in = strings.Join(strings.Fields(line[1:len(line)-1]), " ") == section
		case in:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue // a nested setting's continuation line
			}
			out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading AWS settings %s: %v", path, err)
	}
	return out, nil
}

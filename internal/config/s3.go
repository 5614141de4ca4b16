package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/storage"
)

// S3Flags adds the --s3-* flags to fs (serve and worker share them), with
// ROOMCAST_S3_* environment variables as defaults. Call the returned func
// after fs.Parse: it applies the key environment variables then, so that
// -help never prints them, and reports unparsable boolean variables.
func S3Flags(fs *flag.FlagSet, c *storage.S3Config) func() error {
	var envErrs []error
	envBool := func(key string) bool {
		v := os.Getenv(key)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s=%q: want true or false", key, v))
		}
		return b
	}
	fs.StringVar(&c.Endpoint, "s3-endpoint", env("ROOMCAST_S3_ENDPOINT", ""), "S3-compatible endpoint host[:port] or http(s)://host[:port] (default s3.amazonaws.com)")
	fs.StringVar(&c.Bucket, "s3-bucket", env("ROOMCAST_S3_BUCKET", ""), "upload finished recordings to this bucket (default: keep them in the data dir)")
	fs.StringVar(&c.Region, "s3-region", env("ROOMCAST_S3_REGION", ""), "S3 region (default: asked from the server)")
	fs.StringVar(&c.Prefix, "s3-prefix", env("ROOMCAST_S3_PREFIX", ""), "key prefix for recordings in the bucket, e.g. roomcast/")
	fs.StringVar(&c.AccessKey, "s3-access-key", "", "S3 access key, or ROOMCAST_S3_ACCESS_KEY (neither: AWS_* variables or the instance's IAM role)")
	fs.Func("s3-secret-key", "S3 secret key; prefer ROOMCAST_S3_SECRET_KEY, as a flag shows in the process list", func(v string) error {
		c.SecretKey = logging.Secret(v)
		return nil
	})
	fs.BoolVar(&c.PathStyle, "s3-path-style", envBool("ROOMCAST_S3_PATH_STYLE"), "address the bucket in the URL path, not the host name (MinIO and most self-hosted servers)")
	fs.BoolVar(&c.Insecure, "s3-insecure", envBool("ROOMCAST_S3_INSECURE"), "plain http to a host[:port] --s3-endpoint")
	return func() error {
		if c.AccessKey == "" {
			c.AccessKey = os.Getenv("ROOMCAST_S3_ACCESS_KEY")
		}
		if c.SecretKey == "" {
			c.SecretKey = logging.Secret(os.Getenv("ROOMCAST_S3_SECRET_KEY"))
		}
		return errors.Join(envErrs...)
	}
}

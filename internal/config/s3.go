package config

import (
	"flag"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/storage"
)

// S3Flags adds the --s3-* flags to fs (serve and worker share them); their
// ROOMCAST_S3_* environment variables (ROOMCAST_S3_SECRET_KEY rather than
// the flag, which shows in the process list) are applied by the loader
// after -help, which never prints them.
func S3Flags(fs *flag.FlagSet, c *storage.S3Config) {
	fs.StringVar(&c.Endpoint, "s3-endpoint", "", "S3-compatible endpoint host[:port] or http(s)://host[:port] (default s3.amazonaws.com)")
	fs.StringVar(&c.Bucket, "s3-bucket", "", "upload finished recordings to this bucket (default: keep them in the data dir)")
	fs.StringVar(&c.Region, "s3-region", "", "S3 region (default: asked from the server)")
	fs.StringVar(&c.Prefix, "s3-prefix", "", "key prefix for recordings in the bucket, e.g. roomcast/")
	fs.StringVar(&c.AccessKey, "s3-access-key", "", "S3 access key, or ROOMCAST_S3_ACCESS_KEY (neither: AWS_* variables or the instance's IAM role)")
	fs.Func("s3-secret-key", "S3 secret key; prefer ROOMCAST_S3_SECRET_KEY, as a flag shows in the process list", func(v string) error {
		c.SecretKey = logging.Secret(v)
		return nil
	})
	fs.BoolVar(&c.PathStyle, "s3-path-style", false, "address the bucket in the URL path, not the host name (MinIO and most self-hosted servers)")
	fs.BoolVar(&c.Insecure, "s3-insecure", false, "plain http to a host[:port] --s3-endpoint")
}

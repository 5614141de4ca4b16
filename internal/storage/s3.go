package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// DefaultPartSize is the size of each part of a multipart upload: files
// larger than this are uploaded in parts (S3's smallest part is 5 MiB).
const DefaultPartSize = 5 << 20

// metaName is the object, beside a recording's files, that describes it
// (the recording's recording.json), so the bucket says what it holds.
const metaName = "recording.json"

// S3Config says which S3-compatible bucket recordings go to and how to
// sign in. Its secret key never appears in logs or fmt output.
type S3Config struct {
	// Endpoint is host[:port] (https unless Insecure), or a URL
	// http(s)://host[:port] whose scheme decides; default s3.amazonaws.com.
	Endpoint  string
	Bucket    string // empty disables S3
	Region    string
	AccessKey string
	// SecretKey with AccessKey signs requests; both empty takes them from
	// AWS_*/MINIO_* environment variables or the instance's IAM role.
	SecretKey logging.Secret
	Prefix    string // key prefix: objects are <prefix><id>/<file>
	PathStyle bool   // bucket in the path (MinIO, most self-hosted servers), not the host name
	Insecure  bool   // plain http to a host[:port] endpoint
	// PartSize is the multipart part size (default DefaultPartSize).
	PartSize uint64
	// MaxRetries bounds the client's own retries of one request (default:
	// minio-go's 10); Uploader retries whole uploads on top.
	MaxRetries int
}

// Enabled reports whether a bucket is configured.
func (c S3Config) Enabled() bool { return c.Bucket != "" }

// LogValue shows where recordings go, without credentials.
func (c S3Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("endpoint", c.Endpoint), slog.String("bucket", c.Bucket),
		slog.String("prefix", c.Prefix), slog.String("region", c.Region))
}

// Validate reports every problem with c (nil when S3 is disabled); flag
// names are in the messages.
func (c S3Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if _, _, err := c.endpoint(); err != nil {
		errs = append(errs, err)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("--s3-access-key and --s3-secret-key go together: give both, or neither to use the environment or an IAM role"))
	}
	if strings.Contains(c.Prefix, "//") || strings.HasPrefix(c.Prefix, "/") {
		errs = append(errs, fmt.Errorf("--s3-prefix %q: want a key prefix like recordings/ (no leading or double slash)", c.Prefix))
	}
	if c.PartSize != 0 && c.PartSize < DefaultPartSize {
		errs = append(errs, fmt.Errorf("S3 part size %d: S3 needs at least 5 MiB", c.PartSize))
	}
	return errors.Join(errs...)
}

// endpoint returns the host[:port] minio-go wants and whether to use TLS.
func (c S3Config) endpoint() (host string, secure bool, err error) {
	e := c.Endpoint
	if e == "" {
		return "s3.amazonaws.com", !c.Insecure, nil
	}
	if !strings.Contains(e, "://") {
		if strings.ContainsAny(e, "/?#@ ") {
			return "", false, fmt.Errorf("--s3-endpoint %q: want host[:port] or http(s)://host[:port]", e)
		}
		return e, !c.Insecure, nil
	}
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.Trim(u.Path, "/") != "" {
		return "", false, fmt.Errorf("--s3-endpoint %q: want host[:port] or http(s)://host[:port]", e)
	}
	return u.Host, u.Scheme == "https", nil
}

// S3 keeps recordings in an S3-compatible bucket, each under
// <prefix><id>/: its files and its recording.json.
type S3 struct {
	client   *minio.Client
	bucket   string
	prefix   string
	partSize uint64
}

// NewS3 returns the S3 store for cfg. It does not contact the server.
func NewS3(cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	host, secure, _ := cfg.endpoint()
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.IAM{},
	})
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, string(cfg.SecretKey), "")
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region,
		BucketLookup: lookup, MaxRetries: cfg.MaxRetries})
	if err != nil {
		return nil, fmt.Errorf("storage: s3 client for %s: %w", host, err)
	}
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	part := cfg.PartSize
	if part == 0 {
		part = DefaultPartSize
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: prefix, partSize: part}, nil
}

// Location returns where recording id's files go: s3://bucket/prefix/id/.
func (s *S3) Location(id string) string { return "s3://" + s.bucket + "/" + s.prefix + id + "/" }

// Put uploads rec's files from dir (multipart above the part size), then
// its recording.json, and returns Location(rec.ID). A file already in the
// bucket with its size (from an earlier, interrupted try) is not sent again.
func (s *S3) Put(ctx context.Context, rec roomcast.Recording, dir string) (string, error) {
	loc := s.Location(rec.ID)
	keys := s.prefix + rec.ID + "/"
	for _, f := range rec.Files {
		if err := s.putFile(ctx, keys+f.Name, filepath.Join(dir, f.Name), f.Size); err != nil {
			return "", fmt.Errorf("upload %s to %s: %w", f.Name, loc, err)
		}
	}
	rec.Status, rec.Error, rec.Location = roomcast.RecordingPhaseReady, "", loc
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("storage: encode %s: %w", metaName, err)
	}
	if _, err := s.client.PutObject(ctx, s.bucket, keys+metaName, bytes.NewReader(b), int64(len(b)),
		minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return "", fmt.Errorf("upload %s to %s: %w", metaName, loc, err)
	}
	return loc, nil
}

func (s *S3) putFile(ctx context.Context, key, file string, size int64) error {
	if info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err == nil && info.Size == size {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		return fmt.Errorf("%s is not the %d bytes that were recorded (%v)", file, size, err)
	}
	info, err := s.client.PutObject(ctx, s.bucket, key, f, size, minio.PutObjectOptions{
		PartSize: s.partSize, ContentType: recordings.ContentType(key)})
	if err != nil {
		return err
	}
	if info.Size != size {
		return fmt.Errorf("stored %d of %d bytes", info.Size, size)
	}
	return nil
}

// URL returns a presigned GET URL for file name of the recording at
// location, valid for ttl; it downloads as an attachment named name.
func (s *S3) URL(ctx context.Context, location, name string, ttl time.Duration) (string, error) {
	bucket, keys, err := parseLocation(location)
	if err != nil {
		return "", err
	}
	q := url.Values{"response-content-disposition": {mime.FormatMediaType("attachment", map[string]string{"filename": name})}}
	u, err := s.client.PresignedGetObject(ctx, bucket, keys+name, ttl, q)
	if err != nil {
		return "", fmt.Errorf("storage: presign %s%s: %w", location, name, err)
	}
	return u.String(), nil
}

// Delete removes every object of the recording at location (its files,
// its recording.json and anything an interrupted upload left).
func (s *S3) Delete(ctx context.Context, location string) error {
	bucket, keys, err := parseLocation(location)
	if err != nil {
		return err
	}
	// Listing errors come on the list channel; they are kept out of the
	// removal, which would otherwise take them for an object to remove.
	objs, listErr := make(chan minio.ObjectInfo), make(chan error, 1)
	go func() {
		defer close(objs)
		for o := range s.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: keys, Recursive: true}) {
			if o.Err != nil {
				listErr <- o.Err
				return
			}
			select {
			case objs <- o:
			case <-ctx.Done():
				return
			}
		}
	}()
	var errs []error
	for r := range s.client.RemoveObjectsWithResult(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.ObjectName, r.Err))
		}
	}
	select {
	case err := <-listErr:
		errs = append(errs, err)
	default:
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: delete %s: %w", location, err)
	}
	return nil
}

// parseLocation splits s3://bucket/key/prefix/ into the bucket and the
// key prefix (ending in /).
func parseLocation(loc string) (bucket, keys string, err error) {
	rest, ok := strings.CutPrefix(loc, "s3://")
	bucket, keys, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || keys == "" || !strings.HasSuffix(keys, "/") {
		return "", "", fmt.Errorf("storage: %q is not an s3://bucket/prefix/ location", loc)
	}
	return bucket, keys, nil
}

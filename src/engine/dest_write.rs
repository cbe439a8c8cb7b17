//! The one place that sets the headers s3ferry sends to the destination bucket.
//!
//! Every request to the destination carries the bucket-owner guard (`ExpectedBucketOwner`:
//! S3 refuses the request if the bucket now belongs to another account). A request that
//! creates an object also carries the SSE-KMS key the operator configured and the canned ACL
//! the bucket's Object Ownership needs. Copies, parts, streamed puts, settles and the
//! preflight's probes all go through [`DestWrite`], so a probe that passes sent exactly what
//! the copier will send.

use aws_sdk_s3::operation::{
    abort_multipart_upload::builders::AbortMultipartUploadFluentBuilder,
    complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder,
    copy_object::builders::CopyObjectFluentBuilder,
    create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    delete_object::builders::DeleteObjectFluentBuilder, head_object::builders::HeadObjectFluentBuilder,
    list_objects_v2::builders::ListObjectsV2FluentBuilder, put_object::builders::PutObjectFluentBuilder,
    upload_part::builders::UploadPartFluentBuilder, upload_part_copy::builders::UploadPartCopyFluentBuilder,
};
use aws_sdk_s3::types::{ObjectCannedAcl, ServerSideEncryption};

use crate::core::progress::WriteSettings;

/// What the destination's requests carry; `Default` carries nothing (a reader with no owner).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestWrite {
    /// SSE-KMS with this key on every object written.
    pub kms_key_arn: Option<String>,
    /// The destination bucket's account, sent as `ExpectedBucketOwner`.
    pub expected_owner: Option<String>,
    /// The canned ACL Object Ownership needs (none for BucketOwnerEnforced).
    pub acl: Option<ObjectCannedAcl>,
}

/// A request to the destination bucket: it takes the bucket-owner guard.
pub trait ToDestination: Sized {
    fn owner(self, owner: Option<String>) -> Self;
}

/// A request that creates an object: it also takes encryption and an ACL.
pub trait WritesObject: ToDestination {
    fn sse_kms(self, key: &str) -> Self;
    fn canned_acl(self, acl: Option<ObjectCannedAcl>) -> Self;
}

macro_rules! to_destination {
    ($($builder:ty),* $(,)?) => {$(
        impl ToDestination for $builder {
            fn owner(self, owner: Option<String>) -> Self {
                self.set_expected_bucket_owner(owner)
            }
        }
    )*};
}

macro_rules! writes_object {
    ($($builder:ty),* $(,)?) => {$(
        impl WritesObject for $builder {
            fn sse_kms(self, key: &str) -> Self {
                self.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(key)
            }
            fn canned_acl(self, acl: Option<ObjectCannedAcl>) -> Self {
                self.set_acl(acl)
            }
        }
    )*};
}

to_destination!(
    AbortMultipartUploadFluentBuilder,
    CompleteMultipartUploadFluentBuilder,
    CopyObjectFluentBuilder,
    CreateMultipartUploadFluentBuilder,
    DeleteObjectFluentBuilder,
    HeadObjectFluentBuilder,
    ListObjectsV2FluentBuilder,
    PutObjectFluentBuilder,
    UploadPartFluentBuilder,
    UploadPartCopyFluentBuilder,
);
writes_object!(CopyObjectFluentBuilder, CreateMultipartUploadFluentBuilder, PutObjectFluentBuilder);

impl DestWrite {
    /// Any request to the destination bucket (parts, completes, aborts, HEADs, deletes, lists).
    pub fn guard<R: ToDestination>(&self, req: R) -> R {
        req.owner(self.expected_owner.clone())
    }

    /// A request that creates an object (CopyObject, PutObject, CreateMultipartUpload).
    pub fn object<R: WritesObject>(&self, req: R) -> R {
        let req = self.guard(req).canned_acl(self.acl.clone());
        match &self.kms_key_arn {
            Some(key) => req.sse_kms(key),
            None => req,
        }
    }

    /// What the run reports it sends (the `Started` event), with the Object Ownership it read.
    pub fn settings(&self, ownership: Option<String>) -> WriteSettings {
        WriteSettings {
            ownership,
            acl: self.acl.as_ref().map(|a| a.as_str().to_string()),
            expected_bucket_owner: self.expected_owner.clone(),
            kms_key_arn: self.kms_key_arn.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("eu-west-2"))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    const KEY: &str = "arn:aws:kms:eu-west-2:222222222222:key/k";

    fn full() -> DestWrite {
        DestWrite {
            kms_key_arn: Some(KEY.into()),
            expected_owner: Some("222222222222".into()),
            acl: Some(ObjectCannedAcl::BucketOwnerFullControl),
        }
    }

    #[test]
    fn object_writes_carry_encryption_acl_and_owner() {
        let w = full();
        let s3 = client();
        let copy = w.object(s3.copy_object());
        assert_eq!(copy.get_server_side_encryption(), &Some(ServerSideEncryption::AwsKms));
        assert_eq!(copy.get_ssekms_key_id().as_deref(), Some(KEY));
        assert_eq!(copy.get_acl(), &Some(ObjectCannedAcl::BucketOwnerFullControl));
        assert_eq!(copy.get_expected_bucket_owner().as_deref(), Some("222222222222"));
        let put = w.object(s3.put_object());
        assert_eq!(put.get_ssekms_key_id().as_deref(), Some(KEY));
        assert_eq!(put.get_acl(), &Some(ObjectCannedAcl::BucketOwnerFullControl));
        let create = w.object(s3.create_multipart_upload());
        assert_eq!(create.get_server_side_encryption(), &Some(ServerSideEncryption::AwsKms));
        assert_eq!(create.get_expected_bucket_owner().as_deref(), Some("222222222222"));
    }

    #[test]
    fn other_requests_carry_only_the_owner_guard() {
        let w = full();
        let s3 = client();
        assert_eq!(w.guard(s3.upload_part()).get_expected_bucket_owner().as_deref(), Some("222222222222"));
        assert_eq!(w.guard(s3.upload_part_copy()).get_expected_bucket_owner().as_deref(), Some("222222222222"));
        assert_eq!(w.guard(s3.delete_object()).get_expected_bucket_owner().as_deref(), Some("222222222222"));
        assert_eq!(w.guard(s3.list_objects_v2()).get_expected_bucket_owner().as_deref(), Some("222222222222"));
    }

    #[test]
    fn nothing_configured_sends_nothing() {
        let w = DestWrite::default();
        let copy = w.object(client().copy_object());
        assert_eq!(copy.get_server_side_encryption(), &None);
        assert_eq!(copy.get_acl(), &None);
        assert_eq!(copy.get_expected_bucket_owner(), &None);
        assert_eq!(
            w.settings(Some("BucketOwnerEnforced".into())),
            WriteSettings { ownership: Some("BucketOwnerEnforced".into()), ..WriteSettings::default() }
        );
    }
}

//! What a source or destination is, apart from how it is opened: the
//! report and the manifest record it, and errors name it, without depending
//! on the code that opens devices.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    BlockDevice,
    File,
}

/// What a device was when it was opened: enough to tell whether a later
/// manifest describes the same destination, and to refuse copying a device
/// onto itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub path: PathBuf,
    pub kind: Kind,
    pub size: u64,
    /// Block devices: `major:minor`. Informational only when matching a
    /// manifest: device-mapper minors change between activations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Regular files: `filesystem-device:inode`, so a re-created file is a
    /// different destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<String>,
    /// An identity the caller knows better (apply passes the backup LV's
    /// UUID); a manifest is trusted for a delta only when it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl Identity {
    /// True when both name the same underlying device or file.
    pub fn same_object(&self, other: &Identity) -> bool {
        self.kind == other.kind
            && match self.kind {
                Kind::BlockDevice => self.device.is_some() && self.device == other.device,
                Kind::File => self.inode.is_some() && self.inode == other.inode,
            }
    }
}

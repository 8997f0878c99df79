//! Where an archive goes on a destination: under its own name when that is free, else
//! under the name carrying this host's tag (`shop_2026-12-04_02-30-00.1a2b3c4d.zip`) —
//! never over a file this job did not upload. Another server sharing the remote directory
//! may back up the same database in the same second.
//!
//! The choice is a pure function ([`choose`]) of the names the listing shows and of what
//! the history proves this job uploaded; [`place`] does one upload attempt with it. With a
//! plugin that has the no-replace upload (`upload_new`, plugin API 1.2), the destination
//! itself refuses a name taken since the listing, and the archive then goes under the
//! tagged name. A plugin without it gets the listing check only: a file another server
//! creates between the listing and the rename is replaced, and the log says so.

use std::path::Path;

use sauvegarde_plugin_api::{NewUpload, PluginError, RemoteFile};

use crate::naming::tagged_name;
use crate::worker::WorkerDestination;

/// Where an upload attempt puts the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// A name the listing does not show: uploaded without replacing anything.
    New(String),
    /// A name this job uploaded before (its history says so, with the size listed):
    /// uploading it again replaces only this job's own file.
    Again(String),
    /// Both the archive's name and its tagged name are taken by files this job did not
    /// upload; the text says so.
    Refuse(String),
}

/// The name for an upload of `planned` by the host tagged `tag`: `planned` when it is
/// free or this job's, else the tagged name when that is free or this job's. `taken(name)`
/// says whether the listing shows it, `ours(name)` whether the history proves it this
/// job's upload.
pub fn choose(
    planned: &str,
    tag: &str,
    taken: impl Fn(&str) -> bool,
    ours: impl Fn(&str) -> bool,
) -> Choice {
    let free_or_ours = |name: &str| {
        if !taken(name) {
            Some(Choice::New(name.to_string()))
        } else if ours(name) {
            Some(Choice::Again(name.to_string()))
        } else {
            None
        }
    };
    if let Some(choice) = free_or_ours(planned) {
        return choice;
    }
    match tagged_name(planned, tag) {
        Some(tagged) => {
            free_or_ours(&tagged).unwrap_or_else(|| Choice::Refuse(refusal(planned, Some(&tagged))))
        }
        None => Choice::Refuse(refusal(planned, None)),
    }
}

/// Why nothing was uploaded: every candidate name is another's.
fn refusal(planned: &str, tagged: Option<&str>) -> String {
    match tagged {
        Some(tagged) => format!(
            "both `{planned}` and `{tagged}` exist on the destination and this job did not upload them; nothing was replaced (another server with this host's tag? compare the host ids in the archives' manifests)"
        ),
        None => format!(
            "`{planned}` exists on the destination and this job did not upload it; nothing was replaced (the name is not an archive name, so no host tag can be added)"
        ),
    }
}

/// One archive to place on one destination.
pub struct Placement<'a> {
    /// The destination.
    pub destination: &'a WorkerDestination,
    /// The local archive.
    pub archive: &'a Path,
    /// Its name: the name it is stored under when that is free.
    pub planned: &'a str,
    /// This host's tag.
    pub tag: &'a str,
    /// Whether the history proves a listed file this job's upload.
    pub ours: &'a dyn Fn(&RemoteFile) -> bool,
}

impl Placement<'_> {
    /// One upload attempt: lists the destination, [`choose`]s the name, uploads.
    /// `temp_name` is the temporary name of a no-replace upload (the caller recorded it);
    /// `on_name(name)` hears the name the upload goes to before it starts (again when the
    /// destination refused the first one). Returns the name the archive is stored under.
    pub fn attempt(
        &self,
        temp_name: &str,
        progress: &mut dyn FnMut(u64, u64) -> bool,
        on_name: &mut dyn FnMut(&str),
    ) -> Result<String, PluginError> {
        let (destination, archive, tag) = (self.destination, self.archive, self.tag);
        let no_replace = destination.has_upload_new();
        let listed = match destination.list() {
            Ok(files) => files,
            // The destination refuses a taken name anyway: the listing only saves an upload.
            Err(e) if no_replace => {
                tracing::debug!("listing before the upload failed, uploading anyway: {e}");
                Vec::new()
            }
            Err(e) => return Err(e.context("looking for the archive's name before uploading")),
        };
        let find = |name: &str| listed.iter().find(|f| f.name() == name);
        let choice = choose(
            self.planned,
            tag,
            |n| find(n).is_some(),
            |n| find(n).is_some_and(self.ours),
        );
        let name = match choice {
            Choice::Refuse(why) => return Err(PluginError::other(why)),
            Choice::Again(name) => {
                on_name(&name);
                tracing::info!("`{name}` is this job's earlier upload: uploading it again");
                destination.upload(archive, &name, progress)?;
                return Ok(name);
            }
            Choice::New(name) => name,
        };
        on_name(&name);
        if !no_replace {
            tracing::warn!(
                "the `{}` plugin has no no-replace upload (plugin API 1.2): `{name}` was not listed, but a file another server creates under that name before this upload completes would be replaced",
                destination.kind()
            );
            destination.upload(archive, &name, progress)?;
            return Ok(name);
        }
        match destination.upload_new(archive, &name, temp_name, progress)? {
            NewUpload::Stored => Ok(name),
            NewUpload::NameTaken => {
                let Some(tagged) = tagged_name(&name, tag) else {
                    return Err(PluginError::other(refusal(&name, None)));
                };
                tracing::info!(
                    "`{name}` was taken on the destination during the upload (another server?): storing the archive as `{tagged}`"
                );
                on_name(&tagged);
                match destination.upload_new(archive, &tagged, temp_name, progress)? {
                    NewUpload::Stored => Ok(tagged),
                    NewUpload::NameTaken => Err(PluginError::other(refusal(&name, Some(&tagged)))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "shop_2026-12-04_02-30-00.zip";
    const TAGGED: &str = "shop_2026-12-04_02-30-00.1a2b3c4d.zip";

    fn choice(taken: &[&str], ours: &[&str]) -> Choice {
        choose(
            NAME,
            "1a2b3c4d",
            |n| taken.contains(&n),
            |n| ours.contains(&n),
        )
    }

    #[test]
    fn a_name_taken_by_another_goes_to_the_tagged_name_never_over_it() {
        assert_eq!(choice(&[], &[]), Choice::New(NAME.into()));
        assert_eq!(choice(&[NAME], &[]), Choice::New(TAGGED.into()));
        assert_eq!(choice(&[NAME], &[NAME]), Choice::Again(NAME.into()));
        assert_eq!(
            choice(&[NAME, TAGGED], &[TAGGED]),
            Choice::Again(TAGGED.into())
        );
        assert!(
            matches!(choice(&[NAME, TAGGED], &[]), Choice::Refuse(why) if why.contains(TAGGED))
        );
        // A name that is not an archive's gets no tag: refused when taken.
        assert!(matches!(
            choose("notes.txt", "1a2b3c4d", |_| true, |_| false),
            Choice::Refuse(why) if why.contains("no host tag")
        ));
        assert_eq!(
            choose("notes.txt", "1a2b3c4d", |_| false, |_| false),
            Choice::New("notes.txt".into())
        );
    }
}

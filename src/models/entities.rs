//! Named entity operations on a model — add/edit/remove assets and attackers, control
//! status, notes and evidence — shared by the three faces (web pages, REST, MCP) so each
//! change has one definition: the domain operation it runs, the activity kind and the
//! history summary it records. Validation stays in [`crate::domain`]; this module only
//! wraps each operation in [`ModelService::update`] (load, change, version bump, save).

use chrono::Utc;

use super::{ModelService, Result, Source, StoredModel};
use crate::auth::Caller;
use crate::domain::{
    AssetPatch, AttackerPatch, ControlStatus, ControlsChange, NewAsset, NewAttacker, NewControl,
    NewEvidence,
};

/// Activity kind of asset/attacker changes.
const REFINEMENT: &str = "refinement";
/// Activity kind of control status, notes and evidence changes.
const CONTROL_UPDATE: &str = "control_update";

fn status_label(status: ControlStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl ModelService {
    /// Adds imported controls next to the existing ones (existing controls keep their state).
    pub fn import_controls(
        &self,
        caller: &Caller,
        id: &str,
        controls: Vec<NewControl>,
        source: Source,
    ) -> Result<(StoredModel, ControlsChange)> {
        let n = controls.len();
        self.update(caller, id, source, REFINEMENT, move |m| {
            let change = m.add_controls(controls, Utc::now())?;
            Ok((change, format!("{n} control(s) imported")))
        })
    }

    /// Adds an asset (its control objectives are derived). Returns the model and the new
    /// asset id.
    pub fn add_asset(
        &self,
        caller: &Caller,
        id: &str,
        asset: NewAsset,
        source: Source,
    ) -> Result<(StoredModel, String)> {
        self.update(caller, id, source, REFINEMENT, move |m| {
            let name = asset.name.clone();
            let aid = m.add_asset(asset, Utc::now())?;
            let summary = format!("added asset {aid} \"{name}\"");
            Ok((aid, summary))
        })
    }

    /// Edits an asset; `None` fields of the patch are kept.
    pub fn edit_asset(
        &self,
        caller: &Caller,
        id: &str,
        asset_id: &str,
        patch: AssetPatch,
        source: Source,
    ) -> Result<StoredModel> {
        self.update(caller, id, source, REFINEMENT, move |m| {
            m.edit_asset(asset_id, patch, Utc::now())?;
            Ok(((), format!("edited asset {asset_id}")))
        })
        .map(|(s, ())| s)
    }

    /// Removes an asset (tombstoned with `reason`; its objectives go too).
    pub fn remove_asset(
        &self,
        caller: &Caller,
        id: &str,
        asset_id: &str,
        reason: &str,
        source: Source,
    ) -> Result<StoredModel> {
        self.update(caller, id, source, REFINEMENT, move |m| {
            m.remove_asset(asset_id, reason, Utc::now())?;
            Ok(((), format!("removed asset {asset_id}")))
        })
        .map(|(s, ())| s)
    }

    /// Adds an attacker (its control objectives are derived). Returns the model and the new
    /// attacker id.
    pub fn add_attacker(
        &self,
        caller: &Caller,
        id: &str,
        attacker: NewAttacker,
        source: Source,
    ) -> Result<(StoredModel, String)> {
        self.update(caller, id, source, REFINEMENT, move |m| {
            let name = attacker.name.clone();
            let aid = m.add_attacker(attacker, Utc::now())?;
            let summary = format!("added attacker {aid} \"{name}\"");
            Ok((aid, summary))
        })
    }

    /// Edits an attacker; `None` fields of the patch are kept.
    pub fn edit_attacker(
        &self,
        caller: &Caller,
        id: &str,
        attacker_id: &str,
        patch: AttackerPatch,
        source: Source,
    ) -> Result<StoredModel> {
        self.update(caller, id, source, REFINEMENT, move |m| {
            m.edit_attacker(attacker_id, patch, Utc::now())?;
            Ok(((), format!("edited attacker {attacker_id}")))
        })
        .map(|(s, ())| s)
    }

    /// Removes an attacker (tombstoned with `reason`; its objectives go too).
    pub fn remove_attacker(
        &self,
        caller: &Caller,
        id: &str,
        attacker_id: &str,
        reason: &str,
        source: Source,
    ) -> Result<StoredModel> {
        self.update(caller, id, source, REFINEMENT, move |m| {
            m.remove_attacker(attacker_id, reason, Utc::now())?;
            Ok(((), format!("removed attacker {attacker_id}")))
        })
        .map(|(s, ())| s)
    }

    /// Sets a control's status (and notes when given) without the assertion check of
    /// [`set_control_status`](Self::set_control_status). MCP's `update_control_status`
    /// has always behaved this way; other faces use the checked method.
    pub fn record_control_status(
        &self,
        caller: &Caller,
        id: &str,
        control_id: &str,
        status: ControlStatus,
        notes: Option<&str>,
        source: Source,
    ) -> Result<StoredModel> {
        let label = status_label(status);
        self.update(caller, id, source, CONTROL_UPDATE, move |m| {
            m.update_control_status(control_id, status, notes, Utc::now())?;
            Ok(((), format!("{control_id} marked {label}")))
        })
        .map(|(s, ())| s)
    }

    /// Replaces a control's implementation notes, keeping its status (empty text clears
    /// them). The domain bounds the text.
    pub fn set_control_notes(
        &self,
        caller: &Caller,
        id: &str,
        control_id: &str,
        notes: &str,
        source: Source,
    ) -> Result<StoredModel> {
        self.update(caller, id, source, CONTROL_UPDATE, move |m| {
            let status = m.control(control_id).map(|c| c.status).ok_or_else(|| {
                crate::domain::DomainError::UnknownId {
                    kind: crate::domain::EntityKind::Control,
                    id: control_id.to_string(),
                }
            })?;
            m.update_control_status(control_id, status, Some(notes), Utc::now())?;
            Ok(((), format!("notes of {control_id} updated")))
        })
        .map(|(s, ())| s)
    }

    /// Attaches evidence to a control. Returns the model and the evidence id.
    pub fn add_evidence(
        &self,
        caller: &Caller,
        id: &str,
        control_id: &str,
        evidence: NewEvidence,
        source: Source,
    ) -> Result<(StoredModel, String)> {
        self.update(caller, id, source, CONTROL_UPDATE, move |m| {
            let eid = m.add_evidence(control_id, evidence, Utc::now())?;
            Ok((eid, format!("evidence added to {control_id}")))
        })
    }

    /// Removes an evidence item from a control.
    pub fn remove_evidence(
        &self,
        caller: &Caller,
        id: &str,
        control_id: &str,
        evidence_id: &str,
        source: Source,
    ) -> Result<StoredModel> {
        self.update(caller, id, source, CONTROL_UPDATE, move |m| {
            m.remove_evidence(control_id, evidence_id, Utc::now())?;
            Ok((
                (),
                format!("evidence {evidence_id} removed from {control_id}"),
            ))
        })
        .map(|(s, ())| s)
    }
}

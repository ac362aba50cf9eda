//! Making the table: `create_table_if_missing`.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};

use crate::failure::request_error;
use crate::item::{EXPIRES, KEY};
use crate::{DynamoDbBackend, Error};

/// How long a new table may take to become active (DynamoDB: seconds).
const ACTIVE_WITHIN: Duration = Duration::from_secs(120);
/// How often its status is read meanwhile.
const POLL_EVERY: Duration = Duration::from_millis(250);

impl DynamoDbBackend {
    /// Creates the table if it does not exist (a string hash key `id`,
    /// on-demand billing), waits until it is active, and turns on TTL on
    /// the attribute `expires`, so DynamoDB deletes expired sessions by
    /// itself. Does nothing to a table that is already so; a table whose
    /// key or TTL attribute is another is [`Error::Config`]. Needs the
    /// `CreateTable`, `DescribeTable`, `DescribeTimeToLive` and
    /// `UpdateTimeToLive` permissions; run it at deployment, or at start-up
    /// where the application has them.
    ///
    /// ```no_run
    /// use sessions_dynamodb::DynamoDbBackend;
    ///
    /// # async fn run() -> Result<(), sessions_dynamodb::Error> {
    /// let backend = DynamoDbBackend::connect_local("http://127.0.0.1:8000", "sessions")?;
    /// backend.create_table_if_missing().await?;
    /// backend.create_table_if_missing().await?; // a second call finds it ready
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_table_if_missing(&self) -> Result<(), Error> {
        let table = self.table();
        if !self.table_exists().await? {
            let created = self
                .client()
                .create_table()
                .table_name(table)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(KEY)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(|e| Error::Config(e.to_string()))?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(KEY)
                        .key_type(KeyType::Hash)
                        .build()
                        .map_err(|e| Error::Config(e.to_string()))?,
                )
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await;
            match created {
                Ok(_) => tracing::info!(table, "created the DynamoDB session table"),
                // Made meanwhile by another process starting up.
                Err(error) if error.code() == Some("ResourceInUseException") => {}
                Err(error) => return Err(request_error("CreateTable", error)),
            }
        }
        self.wait_until_active().await?;
        self.enable_ttl().await
    }

    /// Whether the table exists; checks its key when it does.
    async fn table_exists(&self) -> Result<bool, Error> {
        let described = match self.client().describe_table().table_name(self.table()).send().await {
            Ok(described) => described,
            Err(error) if error.code() == Some("ResourceNotFoundException") => return Ok(false),
            Err(error) => return Err(request_error("DescribeTable", error)),
        };
        let schema = described.table.as_ref().map(|t| t.key_schema()).unwrap_or_default();
        let keyed_by_id =
            schema.len() == 1 && schema[0].attribute_name() == KEY && schema[0].key_type() == &KeyType::Hash;
        if !keyed_by_id {
            return Err(Error::Config(format!(
                "the table `{}` exists with another key; sessions need a string hash key `{KEY}` alone",
                self.table()
            )));
        }
        Ok(true)
    }

    async fn wait_until_active(&self) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            let described = self
                .client()
                .describe_table()
                .table_name(self.table())
                .send()
                .await
                .map_err(|e| request_error("DescribeTable", e))?;
            if described.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
                return Ok(());
            }
            if started.elapsed() >= ACTIVE_WITHIN {
                return Err(Error::TableNotActive { table: self.table().to_owned(), waited: started.elapsed() });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    async fn enable_ttl(&self) -> Result<(), Error> {
        let described = self
            .client()
            .describe_time_to_live()
            .table_name(self.table())
            .send()
            .await
            .map_err(|e| request_error("DescribeTimeToLive", e))?;
        let ttl = described.time_to_live_description;
        let status = ttl.as_ref().and_then(|d| d.time_to_live_status.clone());
        let attribute = ttl.as_ref().and_then(|d| d.attribute_name.as_deref());
        match status {
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) if attribute == Some(EXPIRES) => Ok(()),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => Err(Error::Config(format!(
                "the table `{}` has TTL on `{}`; sessions expire by `{EXPIRES}`",
                self.table(),
                attribute.unwrap_or_default()
            ))),
            _ => {
                let specification = TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(EXPIRES)
                    .build()
                    .map_err(|e| Error::Config(e.to_string()))?;
                self.client()
                    .update_time_to_live()
                    .table_name(self.table())
                    .time_to_live_specification(specification)
                    .send()
                    .await
                    .map_err(|e| request_error("UpdateTimeToLive", e))?;
                Ok(())
            }
        }
    }
}
